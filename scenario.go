package ktstr

import (
	"github.com/ktstr-go/ktstr/scenario"
)

// CgroupDef describes a cgroup and its workers; see package scenario.
type CgroupDef = scenario.CgroupDef

// Step is one step of a scenario; see package scenario for its ops.
type Step = scenario.Step

// ExecuteDefs runs the cgroups defs side by side for the test's duration
// and returns the checks' result: starvation, fairness spread and
// scheduling gaps by default, and whatever else the test, its scheduler or
// the framework turned on.
func ExecuteDefs(ctx *Ctx, defs ...CgroupDef) (AssertResult, error) {
	ops := make([]scenario.Op, len(defs))
	for i, d := range defs {
		ops[i] = scenario.AddCgroup(d)
	}
	return ExecuteSteps(ctx, scenario.Step{Ops: ops, Hold: scenario.HoldFrac(1)})
}

// ExecuteSteps runs a scenario of steps and returns the checks' result over
// every worker that ran.
func ExecuteSteps(ctx *Ctx, steps ...Step) (AssertResult, error) {
	return scenario.Execute(ctx.scenarioEnv(), steps...)
}

// RunScenario runs the canned scenario called name (see
// scenario.Catalog: steady, steady_llc, oversubscribed, cpuset_apply,
// cpuset_clear, cpuset_resize, cgroup_add, cgroup_remove, affinity_change,
// affinity_pinned, host_contention, mixed_workloads, nested_steady,
// nested_task_move).
func RunScenario(ctx *Ctx, name string) (AssertResult, error) {
	s, err := scenario.Lookup(name)
	if err != nil {
		return AssertResult{}, err
	}
	env := ctx.scenarioEnv()
	return scenario.Execute(env, s.Steps(env)...)
}
