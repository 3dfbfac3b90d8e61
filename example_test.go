package ktstr_test

import (
	"testing"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/scenario"
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
