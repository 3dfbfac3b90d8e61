package scenario

import (
	"fmt"
	"sort"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

// Scenario is a canned scenario: a name, what it exercises, and its steps
// for a given environment.
type Scenario struct {
	Name        string
	Description string
	Steps       func(env *Env) []Step
}

func cg(i int) string { return fmt.Sprintf("cg_%d", i) }

// twoCgroups adds cg_0 and cg_1 as defs (with names filled in).
func twoCgroups(mod func(i int, d *CgroupDef)) []Op {
	var ops []Op
	for i := 0; i < 2; i++ {
		d := CgroupDef{Name: cg(i)}
		if mod != nil {
			mod(i, &d)
		}
		ops = append(ops, AddCgroup(d))
	}
	return ops
}

var catalog = []Scenario{
	{"steady", "two cgroups of CPU spinners for the whole duration", func(env *Env) []Step {
		return []Step{{Ops: twoCgroups(nil), Hold: HoldFrac(1)}}
	}},
	{"steady_llc", "one cgroup per LLC, each confined to its LLC", func(env *Env) []Step {
		var ops []Op
		for l := 0; l < env.Topology.LLCs; l++ {
			ops = append(ops, AddCgroup(CgroupDef{Name: cg(l), Cpuset: LLCs(l)}))
		}
		return []Step{{Ops: ops, Hold: HoldFrac(1)}}
	}},
	{"oversubscribed", "two cgroups with twice as many spinners as CPUs in all", func(env *Env) []Step {
		n := max(1, len(env.CPUs))
		return []Step{{Ops: twoCgroups(func(_ int, d *CgroupDef) { d.Workers = n }), Hold: HoldFrac(1)}}
	}},
	{"cpuset_apply", "two unrestricted cgroups, then disjoint cpusets applied halfway", func(env *Env) []Step {
		return []Step{
			{Ops: twoCgroups(nil), Hold: HoldFrac(0.5)},
			{Ops: []Op{SetCpuset(cg(0), Disjoint(0, 2)), SetCpuset(cg(1), Disjoint(1, 2))}, Hold: HoldFrac(0.5)},
		}
	}},
	{"cpuset_clear", "two cgroups on disjoint cpusets, cleared halfway", func(env *Env) []Step {
		return []Step{
			{Ops: twoCgroups(func(i int, d *CgroupDef) { d.Cpuset = Disjoint(i, 2) }), Hold: HoldFrac(0.5)},
			{Ops: []Op{ClearCpuset(cg(0)), ClearCpuset(cg(1))}, Hold: HoldFrac(0.5)},
		}
	}},
	{"cpuset_resize", "a cgroup's cpuset grows from half the CPUs to all, then shrinks back", func(env *Env) []Step {
		return []Step{
			{Ops: []Op{AddCgroup(CgroupDef{Name: cg(0), Cpuset: Range(0, 0.5)})}, Hold: HoldFrac(1.0 / 3)},
			{Ops: []Op{SetCpuset(cg(0), Range(0, 1))}, Hold: HoldFrac(1.0 / 3)},
			{Ops: []Op{SetCpuset(cg(0), Range(0, 0.5))}, Hold: HoldFrac(1.0 / 3)},
		}
	}},
	{"cgroup_add", "one cgroup, a second added halfway", func(env *Env) []Step {
		return []Step{
			{Ops: []Op{AddCgroup(CgroupDef{Name: cg(0)})}, Hold: HoldFrac(0.5)},
			{Ops: []Op{AddCgroup(CgroupDef{Name: cg(1)})}, Hold: HoldFrac(0.5)},
		}
	}},
	{"cgroup_remove", "two cgroups, the second removed halfway", func(env *Env) []Step {
		return []Step{
			{Ops: twoCgroups(nil), Hold: HoldFrac(0.5)},
			{Ops: []Op{RemoveCgroup(cg(1))}, Hold: HoldFrac(0.5)},
		}
	}},
	{"affinity_change", "two cgroups whose workers get new random affinities every 100 ms", func(env *Env) []Step {
		n := max(1, len(env.CPUs)/2)
		return []Step{{Ops: twoCgroups(nil), Hold: HoldFrac(1), Every: 100 * time.Millisecond,
			Loop: []Op{SetAffinity(cg(0), RandomAffinity(n)), SetAffinity(cg(1), RandomAffinity(n))}}}
	}},
	{"affinity_pinned", "two cgroups whose workers are each pinned to one CPU", func(env *Env) []Step {
		return []Step{{Ops: twoCgroups(func(_ int, d *CgroupDef) { d.Affinity = SingleCPU() }), Hold: HoldFrac(1)}}
	}},
	{"host_contention", "two cgroups of spinners against bursty load outside them (not checked)", func(env *Env) []Step {
		ops := twoCgroups(nil)
		ops = append(ops, AddCgroup(CgroupDef{Name: "host", Workers: max(1, len(env.CPUs)),
			Work: workload.Bursty(5*time.Millisecond, 5*time.Millisecond), Background: true}))
		return []Step{{Ops: ops, Hold: HoldFrac(1)}}
	}},
	{"mixed_workloads", "cgroups of spinners, bursty, yielding and pipe ping-pong workers side by side", func(env *Env) []Step {
		return []Step{{Ops: []Op{
			AddCgroup(CgroupDef{Name: "spin", Work: workload.CpuSpin()}),
			AddCgroup(CgroupDef{Name: "bursty", Work: workload.Bursty(10*time.Millisecond, 5*time.Millisecond)}),
			AddCgroup(CgroupDef{Name: "yield", Work: workload.YieldHeavy()}),
			AddCgroup(CgroupDef{Name: "pipe", Workers: 2, Work: workload.PipeIo()}),
		}, Hold: HoldFrac(1)}}
	}},
	{"nested_steady", "a parent cgroup with two child cgroups of spinners", func(env *Env) []Step {
		return []Step{{Ops: []Op{
			AddCgroup(CgroupDef{Name: "parent", NoWorkers: true}),
			AddCgroup(CgroupDef{Name: "parent/a"}),
			AddCgroup(CgroupDef{Name: "parent/b"}),
		}, Hold: HoldFrac(1)}}
	}},
	{"nested_task_move", "nested cgroups; halfway all tasks of one child move to the other", func(env *Env) []Step {
		return []Step{
			{Ops: []Op{
				AddCgroup(CgroupDef{Name: "parent", NoWorkers: true}),
				AddCgroup(CgroupDef{Name: "parent/a", Cpuset: Disjoint(0, 2)}),
				AddCgroup(CgroupDef{Name: "parent/b", Cpuset: Disjoint(1, 2)}),
			}, Hold: HoldFrac(0.5)},
			{Ops: []Op{MoveAll("parent/a", "parent/b")}, Hold: HoldFrac(0.5)},
		}
	}},
}

// Catalog returns the canned scenarios, by name.
func Catalog() []Scenario {
	out := append([]Scenario(nil), catalog...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the canned scenario called name.
func Lookup(name string) (Scenario, error) {
	for _, s := range catalog {
		if s.Name == name {
			return s, nil
		}
	}
	var names []string
	for _, s := range Catalog() {
		names = append(names, s.Name)
	}
	return Scenario{}, fmt.Errorf("no canned scenario %q; there are %v", name, names)
}
