package ktstr_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
)

// TestMonitorHealthy: under scx_simple with two cgroups of spinners the
// host-side monitor's samples are plausible (every CPU's clock advances,
// the vCPU threads run, and the runqueues together hold at least the four
// spinners, which never sleep, and not many more tasks than the guest
// has), no monitor check fails, and the host reads, in the guest kernel's
// memory, the watchdog timeout the harness set.
func TestMonitorHealthy(t *testing.T) {
	t.Parallel()
	test := ktstr.Test{Scheduler: &scxSimple, Cores: 2, DurationS: 4, MemoryMB: 512}
	o := ktstr.RunOutcome(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		return ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "a", Workers: 2}, ktstr.CgroupDef{Name: "b", Workers: 2})
	})
	if ktstr.InGuest() {
		return
	}
	if f := o.Failure(); f != nil {
		t.Fatalf("run failed: %v", f)
	}
	s := o.Monitor
	if s == nil || len(s.Samples) < 15 || !s.SchedExt || !s.HasScx || !s.HasVCPUTime {
		t.Fatalf("monitor series: %+v", s)
	}
	for i, smp := range s.Samples {
		if len(smp.CPUs) != 2 {
			t.Fatalf("sample %d has %d CPUs", i, len(smp.CPUs))
		}
		var sum uint32
		for c, cs := range smp.CPUs {
			sum += cs.NrRunning
			if cs.ScxNrRunning > cs.NrRunning {
				t.Errorf("sample %d CPU %d: scx.nr_running %d > nr_running %d", i, c, cs.ScxNrRunning, cs.NrRunning)
			}
			if i > 0 {
				prev := s.Samples[i-1].CPUs[c]
				if cs.Clock <= prev.Clock || cs.VCPUTime <= prev.VCPUTime {
					t.Errorf("sample %d CPU %d: clock %d -> %d, vCPU time %d -> %d: want both to advance", i, c, prev.Clock, cs.Clock, prev.VCPUTime, cs.VCPUTime)
				}
			}
		}
		// The spinners run for the test's 4 s; the samples after that watch
		// them stop and the cgroups go.
		if smp.At < 3700*time.Millisecond && (sum < 4 || sum > 30) {
			t.Errorf("sample %d at %s: %d runnable tasks in all, want at least the 4 spinners and not dozens", i, smp.At, sum)
		}
	}
	if r := o.MonitorResult; r == nil || !r.Passed {
		t.Errorf("monitor result: %v", r)
	}
	want := time.Duration(4 * overcommit(2) * float64(time.Second))
	if !o.KernelWatchdogRead || o.KernelWatchdog != want {
		t.Errorf("the kernel's watchdog read from the host: %s (read %v), want %s", o.KernelWatchdog, o.KernelWatchdogRead, want)
	}
}

// spinners returns a test function that runs n CPU spinners in one cgroup
// for the test's duration.
func spinners(n int) ktstr.Func {
	return func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		return ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "many", Workers: n})
	}
}

// monitorFailure runs test and returns the run's failure, which must be
// one of failed checks, and the ids of the checks that failed.
func monitorFailure(t *testing.T, test ktstr.Test, fn ktstr.Func) (*ktstr.Failure, []string) {
	t.Helper()
	o := ktstr.RunOutcome(t, test, fn)
	if ktstr.InGuest() {
		return nil, nil
	}
	f := o.Failure()
	if f == nil || f.Kind != ktstr.CheckFailed {
		t.Fatalf("want failed checks, got %v", f)
	}
	t.Logf("caught, as a user sees it:\n%v", f)
	return f, f.Checks
}

// TestMonitorImbalance: the fixture's --pile-on puts every user task on
// CPU 0's local DSQ; the imbalance ratio check catches it, and nothing
// else does (with 8 workers the DSQ stays far below its limit), and the
// report carries the sched_ext dump the host asked for at the first
// sustained violation.
func TestMonitorImbalance(t *testing.T) {
	t.Parallel()
	test := ktstr.Test{Scheduler: withArgs(fixture, "--pile-on", "0"), Cores: 2, DurationS: 5, MemoryMB: 512}
	f, checks := monitorFailure(t, test, spinners(8))
	if f == nil {
		return
	}
	if len(checks) != 1 || checks[0] != "imbalance_ratio" {
		t.Fatalf("failed checks %v, want only imbalance_ratio:\n%v", checks, f)
	}
	if len(f.Detail) < 3 || f.Detail[0] != "sched_ext dump at the first sustained violation:" {
		t.Errorf("the failure lacks the sched_ext dump (SysRq-D): detail %q", f.Detail)
	}
	if !strings.Contains(f.Summary, "for ") || !strings.Contains(f.Summary, "consecutive samples") {
		t.Errorf("the failure does not say how long the violation lasted:\n%s", f.Summary)
	}
}

// TestMonitorDSQDepth: with --pile-on and 30 workers (each a process of
// several threads) CPU 0's local DSQ grows past 50; with the imbalance
// check off, the local DSQ depth check catches it, alone.
func TestMonitorDSQDepth(t *testing.T) {
	t.Parallel()
	test := ktstr.Test{Scheduler: withArgs(fixture, "--pile-on", "0"), Cores: 2, DurationS: 6, MemoryMB: 1024,
		MaxImbalanceRatio: ktstr.Disabled}
	f, checks := monitorFailure(t, test, spinners(30))
	if f == nil {
		return
	}
	if len(checks) != 1 || checks[0] != "local_dsq_depth" {
		t.Fatalf("failed checks %v, want only local_dsq_depth:\n%v", checks, f)
	}
}

// TestMonitorStall: the fixture's --stall-cpu 1 spins for a second at a
// time in ops.dispatch on CPU 1, with its runqueue locked and interrupts
// off, while a task there is runnable: CPU 1's clock stands still while
// its vCPU thread runs, and the stall check catches it. (The other CPU
// often waits on CPU 1's lock and stalls too; the imbalance the knob
// causes, CPU 1 holding one task, is not what this test is about.)
func TestMonitorStall(t *testing.T) {
	t.Parallel()
	test := ktstr.Test{Scheduler: withArgs(fixture, "--stall-cpu", "1"), Cores: 2, DurationS: 5, MemoryMB: 512,
		MaxImbalanceRatio: ktstr.Disabled, NotStarved: ktstr.Off}
	f, checks := monitorFailure(t, test, spinners(2))
	if f == nil {
		return
	}
	if len(checks) != 1 || checks[0] != "stall" {
		t.Fatalf("failed checks %v, want only stall:\n%v", checks, f)
	}
	if !strings.Contains(f.Summary, "stalled") {
		t.Errorf("summary: %s", f.Summary)
	}
}
