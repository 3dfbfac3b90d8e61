package verdict

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// AutoRepro is what ktstr's automatic rerun of a failed run found: the same
// plan booted again in a second VM, with probes on the scheduler's
// callbacks, the kfuncs it places tasks with, the kernel's sched_ext exit
// path and the kernel functions the first failure named. The first run's
// verdict never depends on it.
type AutoRepro struct {
	// Reproduced reports whether the rerun failed the same way: the same
	// kind and, for an ejection, the same exit reason (for a check failure,
	// one of the same checks).
	Reproduced bool `json:"reproduced"`
	// Kind and Summary are the rerun's own outcome; both are empty when it
	// passed.
	Kind    Kind   `json:"kind,omitempty"`
	Summary string `json:"summary,omitempty"`
	// Duration is how long the rerun's VM ran.
	Duration time.Duration `json:"duration"`
	// Tasks are the PIDs of the tasks the failure involved (the task a
	// stall names; else the task that triggered the exit), whose last
	// events Events holds in time order, decoded.
	Tasks  []int        `json:"tasks,omitempty"`
	Events []ProbeEvent `json:"events,omitempty"`
	// Exits are the kernel's claims of the scheduler's exit the probes saw;
	// Before are the events on the CPU of the first one just before it.
	Exits  []ProbeEvent `json:"exits,omitempty"`
	Before []ProbeEvent `json:"before,omitempty"`
	// Functions are the kernel functions probed (those the first failure's
	// backtraces named) that ran, with how often.
	Functions []FunctionHits `json:"functions,omitempty"`
	// Total is how many events the probes recorded, Lost how many the ring
	// buffer dropped.
	Total int    `json:"total"`
	Lost  uint64 `json:"lost,omitempty"`
	// Probes are the probes attached; Notes say what could not be probed,
	// or why the rerun could not run at all.
	Probes []string `json:"probes,omitempty"`
	Notes  []string `json:"notes,omitempty"`
	// Evidence, for a rerun that failed otherwise than the first run, is
	// what explains its own failure: its guest log lines, else the tail of
	// its console (a kernel oops, say).
	Evidence []string `json:"evidence,omitempty"`
}

// ProbeEvent is one decoded probe event.
type ProbeEvent struct {
	// At is the guest's monotonic clock; Rel is At relative to the first
	// exit seen (negative before it), or to the last event shown.
	At  time.Duration `json:"at"`
	Rel time.Duration `json:"rel"`
	CPU int           `json:"cpu"`
	// PID is the task the event is about (0 for none), Task its
	// "comm[pid]".
	PID  int    `json:"pid,omitempty"`
	Task string `json:"task,omitempty"`
	// Event names the probe: a callback ("select_cpu", "enqueue",
	// "dispatch", "running", ...), a kfunc ("bpf_dispatch",
	// "bpf_dispatch_vtime", "bpf_consume"), "exit" (the kernel claims the
	// scheduler's exit) or "kernel" (a probed kernel function).
	Event string `json:"event"`
	// Detail is the event's arguments, decoded: DSQ ids, flags, CPUs,
	// return values, the kernel function.
	Detail string `json:"detail,omitempty"`
}

// FunctionHits is how often a probed kernel function ran, and when last
// (relative to the exit, as ProbeEvent.Rel).
type FunctionHits struct {
	Name    string        `json:"name"`
	Hits    uint64        `json:"hits"`
	LastRel time.Duration `json:"last_rel,omitempty"`
	LastCPU int           `json:"last_cpu,omitempty"`
}

func (e ProbeEvent) String() string {
	task := e.Task
	if task == "" {
		task = "-"
	}
	return strings.TrimRight(fmt.Sprintf("%+11.6fs cpu%-3d %-14s %-22s %s", e.Rel.Seconds(), e.CPU, e.Event, task, e.Detail), " ")
}

// How many events %v prints of each task and before the exit; the record
// keeps them all.
const (
	shownPerTask = 24
	shownBefore  = 12
)

// write prints the section for Failure's %v.
func (a *AutoRepro) write(w io.Writer) {
	outcome := "passed"
	if a.Kind != "" {
		outcome = string(a.Kind) + ": " + a.Summary
	}
	state := "did not reproduce"
	if a.Reproduced {
		state = "reproduced"
	}
	fmt.Fprintf(w, "\n--- auto-repro: %s in a second VM with probes (%.1fs): %s ---", state, a.Duration.Seconds(), outcome)
	if a.Total > 0 || len(a.Probes) > 0 {
		fmt.Fprintf(w, "\nprobes: %d attached, %d event(s) recorded", len(a.Probes), a.Total)
		if a.Lost > 0 {
			fmt.Fprintf(w, ", %d lost (ring buffer full)", a.Lost)
		}
		w.Write([]byte("; times are seconds relative to the exit"))
	}
	for _, n := range a.Notes {
		fmt.Fprintf(w, "\nnote: %s", n)
	}
	if len(a.Evidence) > 0 {
		fmt.Fprintf(w, "\nthe rerun's own failure (%d line(s) of its guest log):\n%s", len(a.Evidence), strings.Join(a.Evidence, "\n"))
	}
	for _, pid := range a.Tasks {
		var mine []ProbeEvent
		name := fmt.Sprintf("[%d]", pid)
		for _, e := range a.Events {
			if e.PID == pid {
				mine = append(mine, e)
				name = e.Task
			}
		}
		if len(mine) == 0 {
			fmt.Fprintf(w, "\ntask %s: no probe events", name)
			continue
		}
		n := len(mine)
		if n > shownPerTask {
			mine = mine[n-shownPerTask:]
		}
		fmt.Fprintf(w, "\ntask %s: last %d of %d event(s) kept:", name, len(mine), n)
		writeEvents(w, mine)
	}
	if len(a.Exits) > 0 {
		before := a.Before
		if len(before) > shownBefore {
			before = before[len(before)-shownBefore:]
		}
		fmt.Fprintf(w, "\ncpu%d before the exit:", a.Exits[0].CPU)
		writeEvents(w, append(before, a.Exits...))
	}
	if len(a.Functions) > 0 {
		w.Write([]byte("\nkernel functions the first failure named:"))
		for _, f := range a.Functions {
			fmt.Fprintf(w, "\n  %-32s %8d hit(s), last %+.6fs on cpu%d", f.Name, f.Hits, f.LastRel.Seconds(), f.LastCPU)
		}
	}
}

func writeEvents(w io.Writer, events []ProbeEvent) {
	for _, e := range events {
		fmt.Fprintf(w, "\n  %s", e)
	}
}
