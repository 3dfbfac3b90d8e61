package verify

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Result is the outcome of a test's checks: pass, or the list of failed
// checks with what was measured. It round-trips through encoding/json (it
// travels from guest to host): every number in it is finite.
type Result struct {
	Passed   bool      `json:"passed"`
	Failures []Failure `json:"failures,omitempty"`
	// Notes are informational lines shown with the result: scaled limits,
	// checks skipped for lack of data, worker errors.
	Notes []string `json:"notes,omitempty"`
	// Cgroups are the per-cgroup statistics Check computed, filled whether
	// the checks pass or fail.
	Cgroups []CgroupStats `json:"cgroups,omitempty"`
}

// Failure is one failed check.
type Failure struct {
	// Check is a stable id: one of the Check* constants, or "custom".
	Check string `json:"check"`
	// Message is one line for a person.
	Message string `json:"message"`
	// Value is what was measured and Limit the effective (scaled) limit
	// it was compared against, in the check's unit.
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	// Cgroup names the cgroup, empty for a custom failure.
	Cgroup string `json:"cgroup,omitempty"`
	// Worker is the worker's position in the cgroup's reports, or -1 when
	// the failure is about a whole cgroup (or no worker at all). It is
	// always encoded, so worker 0 is kept.
	Worker int `json:"worker"`
	// CPUs lists the CPUs involved: the escaped CPUs of an isolation
	// failure, the CPUs of a monitor check's window.
	CPUs []int `json:"cpus,omitempty"`
	// Window is the evidence of a monitor check's failure: the samples of
	// its first sustained window, with a judged sample either side
	// (WindowTable formats them). Empty for other checks.
	Window []MonitorSample `json:"window,omitempty"`
}

// Pass returns a passing result.
func Pass() Result { return Result{Passed: true} }

// Fail returns a failing result with one failure of check "custom"
// (Worker -1).
func Fail(format string, args ...any) Result {
	return Result{Failures: []Failure{{Check: "custom", Message: fmt.Sprintf(format, args...), Worker: -1}}}
}

// Merge combines results: it passes only if both do, and keeps the
// failures, notes and cgroup statistics of both (r's first).
func (r Result) Merge(o Result) Result {
	return Result{
		Passed:   r.Passed && o.Passed,
		Failures: append(append([]Failure(nil), r.Failures...), o.Failures...),
		Notes:    append(append([]string(nil), r.Notes...), o.Notes...),
		Cgroups:  append(append([]CgroupStats(nil), r.Cgroups...), o.Cgroups...),
	}
}

// String formats the result for a person: a PASS or FAIL header, one line
// per failure (followed by the table of its Window, if any), the notes,
// then a table of the cgroup statistics.
func (r Result) String() string {
	var b strings.Builder
	if r.Passed {
		b.WriteString("PASS")
	} else {
		fmt.Fprintf(&b, "FAIL: %d check(s) failed", len(r.Failures))
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  [%s] %s", f.Check, f.Message)
		if t := f.WindowTable(); t != "" {
			b.WriteString("\n      " + strings.ReplaceAll(t, "\n", "\n      "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n  note: %s", n)
	}
	if len(r.Cgroups) > 0 {
		b.WriteString("\n")
		writeTable(&b, r.Cgroups)
	}
	return strings.TrimRight(b.String(), "\n")
}

// writeTable writes one row per cgroup: workers, work units, off-CPU %
// mean/min/max, spread, longest gap (and its worker), p99 wake latency and
// sample count, migrations per iteration, mean work units per CPU-second,
// CPUs used.
func writeTable(b *strings.Builder, cgs []CgroupStats) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  cgroup\tworkers\twork units\toff-CPU% mean/min/max\tspread\tmax gap\tp99 wake (n)\tmigr/iter\tunits/CPU-s\tCPUs used")
	for _, s := range cgs {
		gap := "-"
		if s.MaxGapWorker >= 0 {
			gap = fmt.Sprintf("%.1f ms (w%d)", s.MaxGapMs, s.MaxGapWorker)
		}
		wake := "-"
		if s.WakeSamples > 0 {
			wake = fmt.Sprintf("%s (%d)", fdur(s.P99WakeNs), s.WakeSamples)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.1f/%.1f/%.1f\t%.1f\t%s\t%s\t%.3f\t%.1f\t%s\n",
			s.Name, s.Workers, s.WorkUnits, s.MeanOffCPUPct, s.MinOffCPUPct, s.MaxOffCPUPct,
			s.SpreadPct, gap, wake, s.MigrationRatio, s.MeanWorkRate, cpuList(s.CPUsUsed))
	}
	tw.Flush()
}
