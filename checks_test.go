package ktstr_test

import (
	"os"
	"strconv"
	"strings"
	"time"

	"testing"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/scenario"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

// expectCheck passes when r failed the check named check (and logs what
// the user would see), and fails otherwise: these tests prove a real
// violation in a real guest is caught by the right check.
func expectCheck(ctx *ktstr.Ctx, r ktstr.AssertResult, err error, check string) (ktstr.AssertResult, error) {
	if err != nil {
		return r, err
	}
	ctx.Logf("result of the deliberately bad scenario:\n%s", r)
	for _, f := range r.Failures {
		if f.Check == check {
			return ktstr.Pass(), nil
		}
	}
	return ktstr.Fail("the %s check did not catch the violation; result:\n%s", check, r), nil
}

// escape is a worker that leaves its cgroup (for the guest's root cgroup)
// and runs on CPU 0, outside the cpuset it was given.
var escape = workload.Custom("escape-cpuset", func(c *workload.Control) error {
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return err
	}
	var cpu0 unix.CPUSet
	cpu0.Set(0)
	if err := unix.SchedSetaffinity(0, &cpu0); err != nil { // the work thread
		return err
	}
	for c.Running() {
		for i := 0; i < 1<<15; i++ {
		}
		c.Progress(1)
	}
	return nil
})

// TestIsolationViolationCaught: a worker that escapes its cgroup's cpuset
// fails the isolation check.
func TestIsolationViolationCaught(t *testing.T) {
	t.Parallel()
	ktstr.Run(t, ktstr.Test{Cores: 2, Isolation: ktstr.On, MemoryMB: 512}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		r, err := ktstr.ExecuteDefs(ctx,
			ktstr.CgroupDef{Name: "pinned", Workers: 1, Cpuset: scenario.CPUs(1)},
			ktstr.CgroupDef{Name: "escaper", Workers: 1, Cpuset: scenario.CPUs(1), Work: escape})
		return expectCheck(ctx, r, err, verify.CheckIsolation)
	})
}

// noRTThrottle is EEVDF with real-time throttling off. (Since 6.12 the
// kernel's fair server still gives normal tasks 50 ms of every second on a
// CPU a real-time task hogs, so a starved task shows as gaps of about
// 950 ms rather than as no progress at all.)
var noRTThrottle = ktstr.Scheduler{Name: "eevdf-nothrottle", Binary: ktstr.EEVDF,
	Sysctls: map[string]string{"kernel.sched_rt_runtime_us": "-1"}}

// TestFIFOHogCaught: a SCHED_FIFO spinner pinned with a normal worker on
// one CPU starves it, and the gap check says so.
func TestFIFOHogCaught(t *testing.T) {
	t.Parallel()
	test := ktstr.Test{Cores: 2, Scheduler: &noRTThrottle, MaxGapMs: ktstr.Val(250), MemoryMB: 512}
	ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		if v, err := os.ReadFile("/proc/sys/kernel/sched_rt_runtime_us"); err != nil || strings.TrimSpace(string(v)) != "-1" {
			return ktstr.Fail("the scheduler's sysctl did not apply: sched_rt_runtime_us=%q (%v)", v, err), nil
		}
		// The victim starts first: once the hog runs, nothing else does
		// on CPU 1.
		r, err := ktstr.ExecuteDefs(ctx,
			ktstr.CgroupDef{Name: "victim", Workers: 1, Affinity: scenario.ExactAffinity(1)},
			ktstr.CgroupDef{Name: "hog", Workers: 1, Affinity: scenario.ExactAffinity(1), Policy: workload.FIFO(50)})
		return expectCheck(ctx, r, err, verify.CheckGap)
	})
}

// TestFixtureDegradeCaught: the fixture scheduler's degrade knob gives one
// of two workers sharing a CPU far less of it, and the spread check says so.
func TestFixtureDegradeCaught(t *testing.T) {
	t.Parallel()
	s := fixture
	s.SchedArgs = []string{"--degrade", "90"}
	ktstr.Run(t, ktstr.Test{Cores: 2, Scheduler: &s, MemoryMB: 512}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		r, err := ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "shared", Workers: 2, Cpuset: scenario.CPUs(1)})
		return expectCheck(ctx, r, err, verify.CheckSpread)
	})
}

// TestEveryWorkType runs each work type in the guest and checks that every
// worker made progress (the starvation check) and reported sane times.
func TestEveryWorkType(t *testing.T) {
	t.Parallel()
	kinds := []workload.Kind{
		workload.CpuSpin(), workload.YieldHeavy(), workload.Mixed(), workload.IoSync(),
		workload.Bursty(20*time.Millisecond, 10*time.Millisecond), workload.PipeIo(), workload.FutexPingPong(),
		workload.CachePressure(1<<20, 64), workload.FutexFanOut(2), workload.ForkExit(), workload.NiceSweep(),
		workload.AffinityChurn(), workload.PolicyChurn(), workload.PageFaultChurn(), workload.MutexContention(2),
		workload.Sequence(workload.Spin(5*time.Millisecond), workload.Sleep(2*time.Millisecond), workload.Yield(time.Millisecond), workload.Io(2*time.Millisecond)),
		customWork,
	}
	test := ktstr.Test{Cores: 2, MemoryMB: 1024, DurationS: 1, NotStarved: ktstr.On, MaxSpreadPct: ktstr.Disabled, MaxGapMs: ktstr.Disabled}
	ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		all := ktstr.Pass()
		for _, k := range kinds {
			workers := 2 * k.GroupSize()
			r, err := ktstr.ExecuteSteps(ctx, scenario.Step{
				Ops:  []scenario.Op{scenario.AddCgroup(ktstr.CgroupDef{Name: "work", Workers: workers, Work: k})},
				Hold: scenario.HoldFor(600 * time.Millisecond),
			})
			if err != nil {
				return r, err
			}
			st := r.Cgroups[0]
			units := st.WorkUnits
			ctx.Logf("%-40s workers %d  work units %d  iterations %d  off-CPU %.0f%%", k, st.Workers, units, st.Iterations, st.MeanOffCPUPct)
			if !r.Passed || units == 0 || st.Workers != workers {
				all = all.Merge(ktstr.Fail("%s: %d workers, %d work units: %s", k, st.Workers, units, strings.ReplaceAll(r.String(), "\n", " | ")))
			}
		}
		return all, nil
	})
}

// customWork is a Custom work type: registered at package initialization,
// so the re-executed worker finds it by name.
var customWork = workload.Custom("ktstr-test-custom", func(c *workload.Control) error {
	for c.Running() {
		for i := 0; i < 1<<14; i++ {
		}
		c.Progress(2)
	}
	return nil
})

// TestCannedScenarios runs every canned scenario under EEVDF with the
// default checks. Two vCPUs, as many as this project's CI hosts have: with
// more vCPUs than host CPUs under TCG, the host's own scheduling of vCPU
// threads shows up in the fairness numbers.
func TestCannedScenarios(t *testing.T) {
	t.Parallel()
	test := ktstr.Test{LLCs: 2, Cores: 1, DurationS: 2, MemoryMB: 1024, Isolation: ktstr.On}
	ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		all := ktstr.Pass()
		for _, s := range scenario.Catalog() {
			r, err := ktstr.RunScenario(ctx, s.Name)
			if err != nil {
				return all, err
			}
			ctx.Logf("%-18s %s", s.Name, firstLine(r.String()))
			if !r.Passed {
				all = all.Merge(ktstr.Fail("scenario %s: %s", s.Name, r))
			}
		}
		return all, nil
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
