package examples

import (
	"testing"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/scenario"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

func TestMain(m *testing.M) { ktstr.Main(m) }

// Schedulers are declared once. scx_simple and scx_qmap come from the
// kernel tree (`ktstr sched build`); scx_fixture is this project's own,
// with knobs that break it on purpose.
var (
	simple = ktstr.Scheduler{Name: "scx_simple", Binary: ktstr.Discover("scx_simple")}
	qmap   = ktstr.Scheduler{Name: "scx_qmap", Binary: ktstr.Discover("scx_qmap"), Topology: ktstr.Topo(1, 2, 1, 1)}
	broken = ktstr.Scheduler{
		Name:   "fixture",
		Binary: ktstr.Discover("scx_fixture"),
		Flags: []ktstr.Flag{
			{Name: "degrade", Args: []string{"--degrade", "90"}},
		},
	}
)

// twoCgroups is the workload of every demo: two cgroups of CPU spinners,
// plus a cgroup of pipe ping-pong pairs, for the test's duration.
func twoCgroups(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
	return ktstr.ExecuteDefs(ctx,
		ktstr.CgroupDef{Name: "cg_0", Workers: 2},
		ktstr.CgroupDef{Name: "cg_1", Workers: 2},
		ktstr.CgroupDef{Name: "pipes", Workers: 2, Work: workload.PipeIo()},
	)
}

// TestDemo runs the same workload under the kernel's EEVDF and two real
// sched_ext schedulers, then shows a broken scheduler being caught.
func TestDemo(t *testing.T) {
	t.Run("eevdf", func(t *testing.T) {
		ktstr.Run(t, ktstr.Test{LLCs: 1, Cores: 2}, twoCgroups)
	})
	t.Run("scx_simple", func(t *testing.T) {
		ktstr.Run(t, ktstr.Test{Scheduler: &simple, LLCs: 1, Cores: 2}, twoCgroups)
	})
	t.Run("scx_qmap_2llc", func(t *testing.T) {
		// Inherits 1n2l1c1t from qmap.
		ktstr.Run(t, ktstr.Test{Scheduler: &qmap}, twoCgroups)
	})
	t.Run("fixture_degraded_caught", func(t *testing.T) {
		// Two spinners share CPU 1; the degraded scheduler starves one of
		// them and the fairness spread check fails. ExpectFailure accepts
		// exactly that failure (a hang, a kernel panic or another check
		// would still fail the test). Run with -v to see the report.
		test := ktstr.Test{Scheduler: &broken, RequiredFlags: []ktstr.FlagName{"degrade"}, Cores: 2,
			ExpectFailure: ktstr.ExpectCheck(verify.CheckSpread)}
		ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "shared", Workers: 2, Cpuset: scenario.CPUs(1)})
		})
	})
}
