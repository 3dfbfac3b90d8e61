package repro

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/verdict"
)

func TestQualifies(t *testing.T) {
	for _, c := range []struct {
		kind     verdict.Kind
		attached bool
		want     bool
	}{
		{verdict.SchedulerEjected, true, true},
		{verdict.SchedulerDied, true, true},
		{verdict.CheckFailed, true, true},
		{verdict.CheckFailed, false, false}, // no sched_ext scheduler: nothing to probe
		{verdict.SchedulerStartFailed, false, false},
		{verdict.SchedulerNotAttached, false, false},
		{verdict.TestError, true, false},
		{verdict.TestPanic, true, false},
		{verdict.KernelPanic, true, false},
		{verdict.GuestHang, true, false},
		{verdict.HarnessError, true, false},
	} {
		if got := Qualifies(&verdict.Failure{Kind: c.kind, Summary: "x"}, c.attached); got != c.want {
			t.Errorf("Qualifies(%s, attached=%v) = %v, want %v", c.kind, c.attached, got, c.want)
		}
	}
	if Qualifies(nil, true) {
		t.Error("Qualifies(nil) = true")
	}
}

// A sched_ext dump as 6.12 prints it at a stall.
var stallDump = strings.Split(`sched_ext: BPF scheduler "fixture" disabled (runnable task stall)
Dump of sched_ext state:
kworker/0:1[12] triggered exit kind 1026:
  runnable task stall (scx_fixture[57] failed to run for 3.778s)

Backtrace:
  scx_watchdog_workfn+0x12d/0x1c0
  process_one_work+0x17c/0x3a0
  worker_thread+0x253/0x360
  kthread+0xcf/0x100
  ret_from_fork+0x31/0x50
  ret_from_fork_asm+0x1a/0x30

CPU states
----------

CPU 0   : nr_run=1 flags=0x1 cpu_rel=0 pnt_seq=12
 *R kworker/0:1[12] +0ms
      cpus=0

    schedule_timeout+0x10/0x20
    kthread+0xcf/0x100

CPU 1   : nr_run=2 flags=0x1 cpu_rel=0 pnt_seq=93
  R scx_fixture[57] -3778ms
      scx_state/flags=3/0x9 dsq_flags=0x1 ops_state/qseq=0/0
      cpus=0-1

    do_nanosleep+0x67/0x190
    hrtimer_nanosleep+0xb6/0x1a0
    __x64_sys_nanosleep+0xc1/0xf0
    do_syscall_64+0xa7/0x1b0
    entry_SYSCALL_64_after_hwframe+0x77/0x7f
    bpf_prog_6deef7357e7b4530_fixture_enqueue+0x3c/0x80
    bpf__sched_ext_ops_enqueue+0x4b/0x80 [bpf]
    process_one_work+0x17c/0x3a0`, "\n")

func TestFunctionsFromDump(t *testing.T) {
	got := Functions(stallDump, nil, nil)
	// The exit's backtrace; no generic frames (worker_thread, kthread,
	// ret_from_fork*), no duplicates.
	want := []string{"scx_watchdog_workfn", "process_one_work"}
	if !slices.Equal(got, want) {
		t.Errorf("Functions = %q, want %q", got, want)
	}
	// Then the stack of the task the failure names, not the others; no
	// syscall entry, no BPF programs.
	pids := Tasks(&verdict.Exit{Reason: "runnable task stall", Message: "scx_fixture[57] failed to run for 3.778s"})
	if !slices.Equal(pids, []int{57}) {
		t.Fatalf("Tasks = %v, want [57]", pids)
	}
	want = []string{"scx_watchdog_workfn", "process_one_work", "do_nanosleep", "hrtimer_nanosleep"} // MaxFunctions
	if got := Functions(stallDump, pids, nil); !slices.Equal(got, want) {
		t.Errorf("Functions for task 57 = %q, want %q", got, want)
	}
	// Only functions the kernel has.
	has := func(n string) bool { return n != "process_one_work" }
	if got := Functions(stallDump, nil, has); slices.Contains(got, "process_one_work") {
		t.Errorf("Functions with has = %q: kept a function the kernel lacks", got)
	}
	// A stack stops at an interrupt's entry: below it is what the
	// interrupt happened to interrupt.
	irq := strings.Split(`Backtrace:
  scx_bpf_error_bstr+0x66/0x80
  bpf_prog_e5a7c4a13018fb57_fixture_select_cpu+0x112/0x128
  select_task_rq_scx+0xba/0x1a0
  try_to_wake_up+0x159/0x5f0
  asm_sysvec_apic_timer_interrupt+0x1a/0x20
  finish_task_switch.isra.0+0xa5/0x280`, "\n")
	if got := Functions(irq, nil, nil); !slices.Equal(got, []string{"scx_bpf_error_bstr", "select_task_rq_scx", "try_to_wake_up"}) {
		t.Errorf("Functions of an interrupt's backtrace = %q", got)
	}
	// At most MaxFunctions.
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf("  fn%d+0x1/0x2", i))
	}
	if got := Functions(many, nil, nil); len(got) != MaxFunctions || got[0] != "fn0" {
		t.Errorf("Functions of 20 frames = %q, want the first %d", got, MaxFunctions)
	}
	// Without a backtrace or a named task, the other stacks.
	states := slices.Index(stallDump, "CPU states")
	if got := Functions(stallDump[states:], nil, nil); !slices.Equal(got, []string{"schedule_timeout", "do_nanosleep", "hrtimer_nanosleep"}) {
		t.Errorf("Functions without a backtrace = %q, want the other stacks' frames", got)
	}
	// Nothing to probe in lines without frames.
	if got := Functions([]string{"scheduler exited with status 1", "0x1/0x2"}, nil, nil); len(got) != 0 {
		t.Errorf("Functions without frames = %q", got)
	}
}

func TestReproduced(t *testing.T) {
	stall := func(msg string) *verdict.Failure {
		return &verdict.Failure{Kind: verdict.SchedulerEjected, Summary: "s", Exit: &verdict.Exit{Reason: "runnable task stall", Message: msg}}
	}
	errExit := &verdict.Failure{Kind: verdict.SchedulerEjected, Summary: "s", Exit: &verdict.Exit{Reason: "scx_bpf_error", Message: "x"}}
	checks := func(ids ...string) *verdict.Failure {
		return &verdict.Failure{Kind: verdict.CheckFailed, Summary: "s", Checks: ids}
	}
	for _, c := range []struct {
		name          string
		first, second *verdict.Failure
		want          bool
	}{
		{"same stall, other task and length", stall("a[1] failed to run for 3s"), stall("a[9] failed to run for 4s"), true},
		{"stall then error", stall("x"), errExit, false},
		{"rerun passed", stall("x"), nil, false},
		{"other kind", stall("x"), &verdict.Failure{Kind: verdict.SchedulerDied, Summary: "s"}, false},
		{"a check in common", checks("spread", "gap"), checks("gap"), true},
		{"other checks", checks("spread"), checks("gap"), false},
		{"died twice", &verdict.Failure{Kind: verdict.SchedulerDied, Summary: "a"}, &verdict.Failure{Kind: verdict.SchedulerDied, Summary: "b"}, true},
	} {
		if got := Reproduced(c.first, c.second); got != c.want {
			t.Errorf("%s: Reproduced = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestDecode(t *testing.T) {
	const builtin = uint64(1) << 63
	for _, c := range []struct {
		e      proto.ProbeEvent
		event  string
		detail string
	}{
		{proto.ProbeEvent{Kind: proto.ProbeEnqueue, PID: 57, Comm: "scx_fixture", A: [4]uint64{0x401, 0, 0, 0b1011}},
			"enqueue", "enq_flags=WAKEUP|CPU_SELECTED cpus=0-1,3"},
		{proto.ProbeEvent{Kind: proto.ProbeDispatch, PID: 57, Comm: "w", A: [4]uint64{builtin | 1<<62 | 3, 20_000_000, 1 << 32, 1}},
			"bpf_dispatch", "dsq=LOCAL_ON|3 slice=20ms enq_flags=PREEMPT cpus=0"},
		{proto.ProbeEvent{Kind: proto.ProbeDispatchVtime, PID: 5, A: [4]uint64{42, ^uint64(0), 0, 0}, Ret: 1000},
			"bpf_dispatch_vtime", "dsq=42 slice=inf enq_flags=0 vtime=1000 cpus=-"},
		{proto.ProbeEvent{Kind: proto.ProbeConsume, A: [4]uint64{builtin | 1}, Ret: 1}, "bpf_consume", "dsq=GLOBAL -> true"},
		{proto.ProbeEvent{Kind: proto.ProbeSelectCPU, PID: 7, A: [4]uint64{2, 0x8 | 0x10, 0, 0xf}, Ret: 1},
			"select_cpu", "prev_cpu=2 wake_flags=TTWU|SYNC -> cpu1 cpus=0-3"},
		{proto.ProbeEvent{Kind: proto.ProbeDequeue, PID: 7, A: [4]uint64{0x1 | 1<<33}}, "dequeue", "deq_flags=SLEEP|0x200000000"},
		{proto.ProbeEvent{Kind: proto.ProbeStopping, PID: 7, A: [4]uint64{1}}, "stopping", "runnable=true"},
		{proto.ProbeEvent{Kind: proto.ProbeCBDispatch, A: [4]uint64{1}}, "dispatch", "cpu1"},
		{proto.ProbeEvent{Kind: proto.ProbeExit, PID: 12, Comm: "kworker/0:1", A: [4]uint64{1026, 0}}, "exit", "kind=ERROR_STALL exit_code=0"},
		{proto.ProbeEvent{Kind: proto.ProbeFunc, A: [4]uint64{0xffffffff81000010}}, "kernel", "scx_watchdog_workfn+0x10"},
		{proto.ProbeEvent{Kind: 99}, "event99", ""},
	} {
		sym := func(a uint64) string {
			if a == 0xffffffff81000010 {
				return "scx_watchdog_workfn+0x10"
			}
			return ""
		}
		got := Decode(c.e, 0, sym)
		if got.Event != c.event || got.Detail != c.detail {
			t.Errorf("Decode(%+v) = %q %q, want %q %q", c.e, got.Event, got.Detail, c.event, c.detail)
		}
	}
	if got := DSQ(builtin | 2); got != "LOCAL" {
		t.Errorf("DSQ(LOCAL) = %q", got)
	}
	if got := DSQ(builtin); got != "INVALID" {
		t.Errorf("DSQ(INVALID) = %q", got)
	}
	if got := DSQ(builtin | 7); got != "BUILTIN|0x7" {
		t.Errorf("DSQ(BUILTIN|7) = %q", got)
	}
	if got := CPUs(1<<63 | 1); got != "0,63" {
		t.Errorf("CPUs = %q", got)
	}
	e := Decode(proto.ProbeEvent{Kind: proto.ProbeRunning, PID: 3, Comm: "a", At: time.Second}, 3*time.Second, nil)
	if e.Rel != -2*time.Second || e.Task != "a[3]" {
		t.Errorf("Decode rel/task = %v %q", e.Rel, e.Task)
	}
}

func TestSection(t *testing.T) {
	first := &verdict.Failure{Kind: verdict.SchedulerEjected, Summary: "stall", Exit: &verdict.Exit{Reason: "runnable task stall", Message: "w[57] failed to run for 3s"}}
	second := &verdict.Failure{Kind: verdict.SchedulerEjected, Summary: "stall again", Exit: &verdict.Exit{Reason: "runnable task stall", Message: "w[60] failed to run for 3.1s"}}
	ms := time.Millisecond
	r := &proto.ProbeReport{
		Tasks: []int{60},
		Events: []proto.ProbeEvent{
			{At: 1000 * ms, Kind: proto.ProbeEnqueue, CPU: 1, PID: 60, Comm: "w", A: [4]uint64{1, 0, 0, 3}},
			{At: 1001 * ms, Kind: proto.ProbeDispatch, CPU: 1, PID: 60, Comm: "w", A: [4]uint64{2, 1, 0, 3}},
		},
		Exits:    []proto.ProbeEvent{{At: 4100 * ms, Kind: proto.ProbeExit, CPU: 0, PID: 12, Comm: "kworker/0:1", A: [4]uint64{1026}}},
		Recent:   []proto.ProbeEvent{{At: 4000 * ms, Kind: proto.ProbeRunning, CPU: 0, PID: 12, Comm: "kworker/0:1"}, {At: 4050 * ms, Kind: proto.ProbeRunning, CPU: 1, PID: 13}},
		Funcs:    []proto.ProbeEvent{{At: 4099 * ms, Kind: proto.ProbeFunc, CPU: 0, A: [4]uint64{0x110}}},
		FuncHits: map[uint64]uint64{0x110: 3, 0x120: 2},
		Total:    500, Attached: []string{"kprobe scx_ops_exit_kind", "fentry fixture_enqueue (enqueue)"},
	}
	sym := func(a uint64) string {
		if a >= 0x100 && a < 0x200 {
			return fmt.Sprintf("scx_watchdog_workfn+%#x", a-0x100)
		}
		return ""
	}
	a := Section(first, second, 12*time.Second, r, sym)
	if !a.Reproduced || a.Kind != verdict.SchedulerEjected || len(a.Events) != 2 || len(a.Before) != 1 {
		t.Fatalf("Section = %+v", a)
	}
	if a.Events[0].Rel != -3100*ms {
		t.Errorf("event time %v, want -3.1s relative to the exit", a.Events[0].Rel)
	}
	if len(a.Functions) != 1 || a.Functions[0].Name != "scx_watchdog_workfn" || a.Functions[0].Hits != 5 || a.Functions[0].LastRel != -ms {
		t.Errorf("Functions = %+v, want scx_watchdog_workfn 5 hits at -1ms", a.Functions)
	}
	f := *first
	f.AutoRepro = a
	out := fmt.Sprintf("%v", &f)
	for _, want := range []string{
		"--- auto-repro: reproduced in a second VM with probes (12.0s): scheduler-ejected: stall again ---",
		"probes: 2 attached, 500 event(s) recorded",
		"task w[60]: last 2 of 2 event(s) kept:",
		"-3.100000s cpu1   enqueue", "enq_flags=WAKEUP cpus=0-1",
		"bpf_dispatch", "dsq=2 slice=1ns",
		"cpu0 before the exit:", "running        kworker/0:1[12]", "kind=ERROR_STALL",
		"scx_watchdog_workfn", "5 hit(s), last -0.001000s on cpu0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("%%v lacks %q:\n%s", want, out)
		}
	}
	// A rerun that passed, and one that sent nothing.
	a = Section(first, nil, time.Second, nil, nil)
	if a.Reproduced || !slices.Contains(a.Notes, "the rerun sent no probe report") {
		t.Errorf("Section without a report = %+v", a)
	}
	f.AutoRepro = a
	if out := fmt.Sprintf("%v", &f); !strings.Contains(out, "--- auto-repro: did not reproduce in a second VM with probes (1.0s): passed ---") {
		t.Errorf("%%v of a rerun that passed:\n%s", out)
	}
	if a.Evidence != nil {
		t.Errorf("evidence %q of a rerun that passed", a.Evidence)
	}
	// A rerun that failed otherwise shows what explains its own failure;
	// a reproduced one does not repeat the first run's evidence.
	panicked := &verdict.Failure{Kind: verdict.KernelPanic, Summary: "guest kernel panic: Fatal exception in interrupt", Detail: []string{"BUG: kernel NULL pointer dereference", "Kernel panic - not syncing: Fatal exception in interrupt"}}
	f.AutoRepro = Section(first, panicked, time.Second, nil, nil)
	if out := fmt.Sprintf("%v", &f); !strings.Contains(out, "the rerun's own failure (2 line(s) of its guest log):\nBUG: kernel NULL pointer dereference\n") {
		t.Errorf("%%v of a rerun that panicked:\n%s", out)
	}
	if a := Section(first, second, time.Second, nil, nil); a.Evidence != nil {
		t.Errorf("evidence %q of a reproduced failure", a.Evidence)
	}
}

// TestSchedExtOnly: sched_ext's static functions and its kfuncs run only
// once a scheduler attaches; the kernel's own and the hooks it calls into
// sched_ext always run.
func TestSchedExtOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		local bool
		want  bool
	}{
		{"select_task_rq_scx", true, true},
		{"scx_watchdog_workfn", true, true},
		{"scx_bpf_error_bstr", false, true},
		{"scx_tick", false, false},          // called on every tick
		{"__scx_update_idle", false, false}, // called from idle
		{"try_to_wake_up", false, false},
		{"process_one_work", true, false},
	} {
		if got := SchedExtOnly(tc.name, tc.local); got != tc.want {
			t.Errorf("SchedExtOnly(%q, %v) = %v, want %v", tc.name, tc.local, got, tc.want)
		}
	}
}
