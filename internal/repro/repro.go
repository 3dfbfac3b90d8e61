// Package repro is the host side of auto-repro: which failures are rerun
// with probes, which kernel functions the rerun probes, whether the rerun
// reproduced the failure, and the decoding of what the probes recorded into
// the failure's auto-repro section (verdict.AutoRepro). The probes
// themselves are package probe, in the guest.
package repro

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/verdict"
)

// Qualifies reports whether f is a failure of the scheduler under test
// that auto-repro reruns: the kernel ejected it (an error, a stall), it
// died, or a check failed while a sched_ext scheduler was attached.
func Qualifies(f *verdict.Failure, attached bool) bool {
	if f == nil {
		return false
	}
	switch f.Kind {
	case verdict.SchedulerEjected, verdict.SchedulerDied:
		return true
	case verdict.CheckFailed:
		return attached
	}
	return false
}

// MaxFunctions bounds the kernel functions a rerun probes: each costs
// every time it runs, and the frames nearest the failure say the most.
const MaxFunctions = 4

// frameRE matches a stack frame as the kernel prints one: "name+0x8d/0x90",
// optionally with a module in brackets.
var frameRE = regexp.MustCompile(`(?:^|\s)([A-Za-z_][A-Za-z0-9_.]*)\+0x[0-9a-f]+/0x[0-9a-f]+`)

// generic are frames that say nothing about a failure (entry, interrupt
// and idle plumbing every stack shares) or cannot be probed usefully (BPF
// programs and their struct_ops stubs, which trampolines replace).
var genericPrefixes = []string{"bpf_prog_", "bpf__", "asm_", "entry_", "ret_from_fork", "sysvec_", "__sysvec_",
	"common_startup", "secondary_startup", "start_secondary", "x86_64_start", "__do_sys_", "__x64_sys_"}

var genericNames = map[string]bool{"kthread": true, "worker_thread": true, "cpu_startup_entry": true, "do_idle": true,
	"start_kernel": true, "rest_init": true, "do_syscall_64": true, "irq_exit_rcu": true, "default_idle": true,
	"default_idle_call": true, "pv_native_safe_halt": true, "arch_cpu_idle": true,
	// every blocked task's stack has these
	"schedule": true, "__schedule": true, "schedule_preempt_disabled": true, "preempt_schedule_common": true,
	"preempt_schedule_irq": true, "schedule_idle": true}

// SchedExtOnly reports whether only sched_ext runs the kernel function
// name: a function local to sched_ext's code (static, local is true, and
// named for it: "scx") or one of the kfuncs sched_ext gives BPF schedulers
// (scx_bpf_*), which only a BPF scheduler calls. Until a scheduler attaches
// no CPU runs such a function, so a probe attached before it patches code
// nothing is executing; under TCG, patching code another vCPU runs is not
// safe (the guest oopses on a stale int3 of the kernel's live patching).
func SchedExtOnly(name string, local bool) bool {
	return strings.HasPrefix(name, "scx_bpf_") || (local && strings.Contains(name, "scx"))
}

func interruptEntry(name string) bool {
	for _, p := range []string{"asm_", "sysvec_", "__sysvec_", "entry_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func generic(name string) bool {
	if genericNames[name] {
		return true
	}
	for _, p := range genericPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// taskRE matches a task's line in the sched_ext dump: " *R comm[pid] -12ms".
var taskRE = regexp.MustCompile(`^\*?[A-Z]\s+\S+\[(\d+)\]\s+[+-]\d+ms`)

// Functions chooses the kernel functions to probe from the lines that
// explain a failure (its detail, the sched_ext dump): the frames of the
// exit's backtrace (the block after "Backtrace:") and of the stacks of the
// tasks pids (the tasks the failure names), in order, each stack only down
// to an interrupt's entry; only when there are none, those of the other
// stacks (which hold every task's idle plumbing, hot and beside the point). Generic frames are left out, and any that
// has rejects (the kernel's symbols; nil accepts all); at most
// MaxFunctions.
func Functions(lines []string, pids []int, has func(string) bool) []string {
	var exit, named, rest []string
	inBacktrace, task, cut := false, 0, false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "Backtrace:" {
			inBacktrace, task, cut = true, 0, false
			continue
		}
		if m := taskRE.FindStringSubmatch(t); m != nil {
			inBacktrace, cut = false, false
			task, _ = strconv.Atoi(m[1])
			continue
		}
		m := frameRE.FindStringSubmatch(t)
		if m != nil && interruptEntry(m[1]) {
			// Below an interrupt's entry is whatever it interrupted.
			cut = true
		}
		switch {
		case m == nil:
			cut = false
			if t != "" {
				inBacktrace = false
			}
		case cut:
		case inBacktrace:
			exit = append(exit, m[1])
		case task != 0 && slices.Contains(pids, task):
			named = append(named, m[1])
		default:
			rest = append(rest, m[1])
		}
	}
	pick := slices.Concat(exit, named)
	if len(pick) == 0 {
		pick = rest
	}
	var out []string
	for _, name := range pick {
		if len(out) == MaxFunctions {
			break
		}
		if generic(name) || slices.Contains(out, name) || (has != nil && !has(name)) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// stalledRE finds the task a runnable task stall names.
var stalledRE = regexp.MustCompile(`\[(\d+)\] failed to run for`)

// Tasks returns the PIDs of the tasks a kernel exit names: the task of a
// runnable task stall.
func Tasks(exit *verdict.Exit) []int {
	if exit == nil {
		return nil
	}
	if m := stalledRE.FindStringSubmatch(exit.Message); m != nil {
		if pid, err := strconv.Atoi(m[1]); err == nil {
			return []int{pid}
		}
	}
	return nil
}

// Reproduced reports whether second is the same failure as first: the same
// kind and, for an ejection or a death with a kernel exit, the same exit
// reason; for a check failure, a check in common. Messages (a task's PID,
// a stall's length) may differ.
func Reproduced(first, second *verdict.Failure) bool {
	if first == nil || second == nil || first.Kind != second.Kind {
		return false
	}
	switch {
	case first.Kind == verdict.CheckFailed:
		for _, c := range first.Checks {
			if slices.Contains(second.Checks, c) {
				return true
			}
		}
		return len(first.Checks) == 0 && len(second.Checks) == 0
	case first.Exit != nil:
		return second.Exit != nil && first.Exit.Reason == second.Exit.Reason
	}
	return true
}

// Symbolizer names a kernel address ("name+0xoff"), "" when unknown.
type Symbolizer func(addr uint64) string

// Section builds the auto-repro section of first from the rerun: its
// failure (nil when it passed), how long it ran and what its probes
// recorded (nil when the guest sent nothing).
func Section(first, second *verdict.Failure, d time.Duration, r *proto.ProbeReport, sym Symbolizer) *verdict.AutoRepro {
	a := &verdict.AutoRepro{Reproduced: Reproduced(first, second), Duration: d}
	if second != nil {
		a.Kind, a.Summary = second.Kind, second.Summary
		if !a.Reproduced {
			a.Evidence = evidence(second)
		}
	}
	if r == nil {
		a.Notes = append(a.Notes, "the rerun sent no probe report")
		return a
	}
	a.Total, a.Lost, a.Probes, a.Notes = r.Total, r.Lost, r.Attached, append(a.Notes, r.Notes...)
	if len(r.Attached) == 0 {
		a.Notes = append(a.Notes, "no probe could be attached")
	}
	// Times are relative to the first exit the probes saw, else to the
	// last event recorded.
	var zero time.Duration
	if len(r.Exits) > 0 {
		zero = r.Exits[0].At
	} else {
		for _, l := range [][]proto.ProbeEvent{r.Events, r.Recent, r.Funcs} {
			if n := len(l); n > 0 && l[n-1].At > zero {
				zero = l[n-1].At
			}
		}
	}
	dec := func(l []proto.ProbeEvent) []verdict.ProbeEvent {
		out := make([]verdict.ProbeEvent, 0, len(l))
		for _, e := range l {
			out = append(out, Decode(e, zero, sym))
		}
		return out
	}
	a.Tasks = append(a.Tasks, r.Tasks...)
	a.Events, a.Exits = dec(r.Events), dec(r.Exits)
	if len(r.Exits) > 0 {
		cpu, at := r.Exits[0].CPU, r.Exits[0].At
		var before []proto.ProbeEvent
		for _, e := range r.Recent {
			if e.CPU == cpu && e.At <= at && e.Kind != proto.ProbeExit {
				before = append(before, e)
			}
		}
		a.Before = dec(before)
	}
	a.Functions = functionHits(r, zero, sym)
	return a
}

// evidenceLines bounds the rerun's evidence kept in the section.
const evidenceLines = 40

// evidence returns what explains f: its guest log lines, else the last
// lines of its console.
func evidence(f *verdict.Failure) []string {
	l := f.Detail
	if len(l) == 0 {
		l = f.Console
		if len(l) > evidenceLines {
			l = l[len(l)-evidenceLines:]
		}
	}
	if len(l) > evidenceLines {
		l = l[:evidenceLines]
	}
	return slices.Clone(l)
}

func functionHits(r *proto.ProbeReport, zero time.Duration, sym Symbolizer) []verdict.FunctionHits {
	byName := map[string]*verdict.FunctionHits{}
	var out []verdict.FunctionHits
	name := func(addr uint64) string {
		if n := symbol(addr, sym); n != "" {
			return strings.SplitN(n, "+", 2)[0]
		}
		return fmt.Sprintf("%#x", addr)
	}
	for addr, n := range r.FuncHits {
		k := name(addr)
		if byName[k] == nil {
			byName[k] = &verdict.FunctionHits{Name: k}
		}
		byName[k].Hits += n
	}
	for _, e := range r.Funcs {
		if h := byName[name(e.A[0])]; h != nil {
			h.LastRel, h.LastCPU = e.At-zero, e.CPU
		}
	}
	for _, h := range byName {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func symbol(addr uint64, sym Symbolizer) string {
	if sym == nil {
		return ""
	}
	return sym(addr)
}

// Decode turns one probe event into what a person reads: the event's name,
// the task, and its arguments with DSQ ids, flags and CPU masks by name.
// zero is the time Rel is relative to.
func Decode(e proto.ProbeEvent, zero time.Duration, sym Symbolizer) verdict.ProbeEvent {
	out := verdict.ProbeEvent{At: e.At, Rel: e.At - zero, CPU: e.CPU, PID: e.PID, Event: EventName(e.Kind)}
	if e.PID != 0 || e.Comm != "" { // PID 0 with a comm: the idle task
		out.Task = fmt.Sprintf("%s[%d]", e.Comm, e.PID)
	}
	cpus := " cpus=" + CPUs(e.A[3])
	switch e.Kind {
	case proto.ProbeExit:
		out.Detail = fmt.Sprintf("kind=%s exit_code=%d", ExitKind(e.A[0]), int64(e.A[1]))
	case proto.ProbeFunc:
		n := symbol(e.A[0], sym)
		if n == "" {
			n = fmt.Sprintf("%#x", e.A[0])
		}
		out.Detail = n
	case proto.ProbeDispatch, proto.ProbeDispatchVtime:
		out.Detail = fmt.Sprintf("dsq=%s slice=%s enq_flags=%s", DSQ(e.A[0]), slice(e.A[1]), EnqFlags(e.A[2]))
		if e.Kind == proto.ProbeDispatchVtime {
			out.Detail += fmt.Sprintf(" vtime=%d", uint64(e.Ret))
		}
		out.Detail += cpus
	case proto.ProbeConsume:
		out.Detail = fmt.Sprintf("dsq=%s -> %v", DSQ(e.A[0]), e.Ret != 0)
	case proto.ProbeSelectCPU:
		out.Detail = fmt.Sprintf("prev_cpu=%d wake_flags=%s -> cpu%d%s", int32(e.A[0]), WakeFlags(e.A[1]), int32(e.Ret), cpus)
	case proto.ProbeEnqueue, proto.ProbeRunnable:
		out.Detail = "enq_flags=" + EnqFlags(e.A[0]) + cpus
	case proto.ProbeDequeue, proto.ProbeQuiescent:
		out.Detail = "deq_flags=" + DeqFlags(e.A[0])
	case proto.ProbeCBDispatch:
		out.Detail = fmt.Sprintf("cpu%d", int32(e.A[0]))
		if out.Task != "" {
			out.Detail += " prev=" + out.Task
		}
	case proto.ProbeStopping:
		out.Detail = fmt.Sprintf("runnable=%v", e.A[0]&0xff != 0)
	}
	return out
}

// EventName names a probe event kind.
func EventName(kind int) string {
	switch kind {
	case proto.ProbeExit:
		return "exit"
	case proto.ProbeFunc:
		return "kernel"
	case proto.ProbeDispatch:
		return "bpf_dispatch"
	case proto.ProbeDispatchVtime:
		return "bpf_dispatch_vtime"
	case proto.ProbeConsume:
		return "bpf_consume"
	case proto.ProbeSelectCPU:
		return "select_cpu"
	case proto.ProbeEnqueue:
		return "enqueue"
	case proto.ProbeDequeue:
		return "dequeue"
	case proto.ProbeCBDispatch:
		return "dispatch"
	case proto.ProbeRunnable:
		return "runnable"
	case proto.ProbeRunning:
		return "running"
	case proto.ProbeStopping:
		return "stopping"
	case proto.ProbeQuiescent:
		return "quiescent"
	}
	return fmt.Sprintf("event%d", kind)
}

// sched_ext's DSQ ids (include/linux/sched/ext.h).
const (
	dsqBuiltin = 1 << 63
	dsqLocalOn = 1 << 62
	dsqInvalid = dsqBuiltin | 0
	dsqGlobal  = dsqBuiltin | 1
	dsqLocal   = dsqBuiltin | 2
	dsqCPUMask = 0xffffffff
)

// DSQ names a DSQ id: LOCAL, GLOBAL, LOCAL_ON|cpu, INVALID, or the
// scheduler's own id in decimal.
func DSQ(id uint64) string {
	switch {
	case id == dsqLocal:
		return "LOCAL"
	case id == dsqGlobal:
		return "GLOBAL"
	case id == dsqInvalid:
		return "INVALID"
	case id&(dsqBuiltin|dsqLocalOn) == dsqBuiltin|dsqLocalOn:
		return fmt.Sprintf("LOCAL_ON|%d", id&dsqCPUMask)
	case id&dsqBuiltin != 0:
		return fmt.Sprintf("BUILTIN|%#x", id&^dsqBuiltin)
	}
	return fmt.Sprint(id)
}

type flag struct {
	bit  uint64
	name string
}

// The kernel's enqueue, dequeue and wake flags (kernel/sched/ext.c and
// kernel/sched/sched.h of 6.12).
var (
	enqFlags = []flag{{0x01, "WAKEUP"}, {0x02, "RESTORE"}, {0x04, "MOVE"}, {0x08, "NOCLOCK"}, {0x10, "HEAD"},
		{0x20, "REPLENISH"}, {0x40, "MIGRATED"}, {0x80, "INITIAL"}, {0x100, "MIGRATING"}, {0x200, "DELAYED"},
		{0x400, "CPU_SELECTED"}, {1 << 32, "PREEMPT"}, {1 << 40, "REENQ"}, {1 << 41, "LAST"},
		{1 << 56, "CLEAR_OPSS"}, {1 << 57, "DSQ_PRIQ"}}
	deqFlags = []flag{{0x01, "SLEEP"}, {0x02, "SAVE"}, {0x04, "MOVE"}, {0x08, "NOCLOCK"}, {0x10, "SPECIAL"},
		{0x100, "MIGRATING"}, {0x200, "DELAYED"}, {1 << 32, "CORE_SCHED_EXEC"}}
	wakeFlags = []flag{{0x02, "EXEC"}, {0x04, "FORK"}, {0x08, "TTWU"}, {0x10, "SYNC"}, {0x20, "MIGRATED"},
		{0x40, "CURRENT_CPU"}, {0x80, "RQ_SELECTED"}}
)

func flags(v uint64, names []flag) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, f := range names {
		if v&f.bit != 0 {
			parts = append(parts, f.name)
			v &^= f.bit
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}

// EnqFlags names SCX_ENQ_* flags, DeqFlags SCX_DEQ_* flags, WakeFlags
// SCX_WAKE_* (WF_*) flags; bits without a name are shown in hex.
func EnqFlags(v uint64) string  { return flags(v, enqFlags) }
func DeqFlags(v uint64) string  { return flags(v, deqFlags) }
func WakeFlags(v uint64) string { return flags(v, wakeFlags) }

// ExitKind names an scx_exit_kind.
func ExitKind(k uint64) string {
	switch k {
	case 0:
		return "NONE"
	case 1:
		return "DONE"
	case 64:
		return "UNREG"
	case 65:
		return "UNREG_BPF"
	case 66:
		return "UNREG_KERN"
	case 67:
		return "SYSRQ"
	case 1024:
		return "ERROR"
	case 1025:
		return "ERROR_BPF"
	case 1026:
		return "ERROR_STALL"
	}
	return fmt.Sprint(k)
}

// CPUs prints the first 64 CPUs of a cpumask as a list ("0-3,6"); "-" for
// an empty mask (or a task the event has no mask of).
func CPUs(mask uint64) string {
	if mask == 0 {
		return "-"
	}
	var parts []string
	for c := 0; c < 64; c++ {
		if mask&(1<<c) == 0 {
			continue
		}
		end := c
		for end+1 < 64 && mask&(1<<(end+1)) != 0 {
			end++
		}
		if end == c {
			parts = append(parts, fmt.Sprint(c))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c, end))
		}
		c = end
	}
	return strings.Join(parts, ",")
}

func slice(ns uint64) string {
	if ns == 0 {
		return "0"
	}
	if ns == ^uint64(0) {
		return "inf"
	}
	return time.Duration(ns).String()
}
