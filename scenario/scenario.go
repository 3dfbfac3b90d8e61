// Package scenario runs workloads in cgroups through a sequence of steps
// and checks how the scheduler treated them.
//
// A scenario is a list of Steps. Each step applies its Ops (add or remove a
// cgroup, change cpusets, spawn or stop workers, change affinity, move
// tasks) and then holds for a while (a fraction of the test's duration, or
// a fixed time), optionally repeating some ops at an interval. When the
// last step ends every worker is stopped, every cgroup removed, and the
// workers' reports go through the checks of package verify, grouped by the
// cgroup each worker started in.
//
// CgroupDef describes one cgroup: its workers (count, work type, policy,
// nice, affinity, memory policy) and its cpuset. Cpusets and affinities are
// given relative to the guest's topology (an LLC, a NUMA node, a fraction
// of the CPUs, part i of n) and resolved when applied.
package scenario

import (
	"time"

	"github.com/ktstr-go/ktstr/cgroup"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// Env is what a scenario runs with; ktstr.Ctx provides it.
type Env struct {
	// Topology numbers the CPUs, LLCs and nodes; CPUs are the usable
	// (online) CPUs.
	Topology topology.Topology
	CPUs     []int
	// Duration is the test's duration; HoldFrac holds are fractions of it.
	Duration time.Duration
	// WorkersPerCgroup is the default worker count of a CgroupDef.
	WorkersPerCgroup int
	// Checks configures the checks run at the end; Verify says where they
	// run, its Scale scaling their time and rate limits.
	Checks verify.Config
	Verify verify.Env
	// Cgroups is where the scenario's cgroups are made.
	Cgroups *cgroup.Manager
	// Logf, if set, receives a line per step.
	Logf func(format string, args ...any)
	// Confine, if set, is told whenever the scenario starts or stops
	// confining workers to some of the CPUs (a cpuset narrower than CPUs,
	// an affinity), so that the host monitor does not judge the
	// imbalance a test creates on purpose.
	Confine func(on bool)

	confined bool
}

func (e *Env) confine(on bool) {
	if e.Confine != nil && on != e.confined {
		e.Confine(on)
	}
	e.confined = on
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}
