package ktstr_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/scenario"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

// A test that boots a 2-LLC guest with 4 cores per LLC and 2 threads per
// core, runs two cgroups of workers under a sched_ext scheduler, and fails
// if any worker starves, the cgroups' off-CPU spread exceeds 10 points, or
// a worker leaves its cpuset.
func ExampleRun() {
	mySched := &ktstr.Scheduler{Name: "scx_simple", Binary: ktstr.Discover("scx_simple")}
	_ = func(t *testing.T) {
		test := ktstr.Test{LLCs: 2, Cores: 4, Threads: 2, Scheduler: mySched,
			MaxSpreadPct: ktstr.Val(10), Isolation: ktstr.On}
		ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.ExecuteDefs(ctx,
				ktstr.CgroupDef{Name: "spin", Cpuset: scenario.LLCs(0)},
				ktstr.CgroupDef{Name: "pipes", Workers: 4, Work: workload.PipeIo(), Cpuset: scenario.LLCs(1)},
			)
		})
	}
}

// Steps change the cgroups while the workers run.
func ExampleExecuteSteps() {
	_ = func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		return ktstr.ExecuteSteps(ctx,
			scenario.Step{Ops: []scenario.Op{
				scenario.AddCgroup(ktstr.CgroupDef{Name: "a"}),
				scenario.AddCgroup(ktstr.CgroupDef{Name: "b"}),
			}, Hold: scenario.HoldFrac(0.5)},
			scenario.Step{Ops: []scenario.Op{
				scenario.SetCpuset("a", scenario.Disjoint(0, 2)),
				scenario.SetCpuset("b", scenario.Disjoint(1, 2)),
			}, Hold: scenario.HoldFrac(0.5)},
		)
	}
}

// RunE returns the run's failure for the caller to judge: here, a
// scheduler that must be ejected by the kernel's watchdog for a stalled
// task.
func ExampleRunE() {
	stalling := &ktstr.Scheduler{Name: "fixture", Binary: ktstr.Discover("scx_fixture"), SchedArgs: []string{"--stall-after", "300"}}
	_ = func(t *testing.T) {
		err := ktstr.RunE(t, ktstr.Test{Scheduler: stalling, DurationS: 10}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
			time.Sleep(ctx.Duration)
			return ktstr.Pass(), nil
		})
		var f *ktstr.Failure
		if !errors.As(err, &f) || f.Kind != ktstr.SchedulerEjected || f.Exit.Reason != "runnable task stall" {
			t.Fatalf("want a stall ejection, got %v", err)
		}
	}
}

// ExpectFailure names the one failure a test expects: here the fairness
// spread check. Any other failure (another check, a hang, a kernel panic)
// still fails the test.
func ExampleExpect() {
	_ = ktstr.Test{Cores: 2, ExpectFailure: ktstr.ExpectCheck(verify.CheckSpread)}
	_ = ktstr.Test{ExpectFailure: ktstr.ExpectEjection("failed to run for")}
	_ = ktstr.Test{ExpectFailure: ktstr.ExpectKind(ktstr.KernelPanic)}
}
