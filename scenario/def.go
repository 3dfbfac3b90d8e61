package scenario

import (
	"fmt"

	"github.com/ktstr-go/ktstr/workload"
)

// CgroupDef describes a cgroup and the workers that run in it.
type CgroupDef struct {
	// Name is the cgroup's path below the test's cgroup root: "cg_0", or
	// "parent/child" for a nested cgroup (the parent must exist).
	Name string
	// Workers is the number of workers; 0 means the test's
	// WorkersPerCgroup. It must be a multiple of the work type's group size.
	Workers int
	// Work is the work type; nil means CpuSpin.
	Work workload.Kind
	// Cpuset restricts the cgroup's CPUs; the zero value leaves them
	// unrestricted.
	Cpuset Cpuset
	// Policy, Nice, Affinity and MemPolicy apply to every worker.
	Policy    workload.Policy
	Nice      int
	Affinity  Affinity
	MemPolicy workload.MemPolicy
	// Background workers load the system but are left out of the checks
	// (host contention).
	Background bool
	// NoWorkers creates the cgroup without workers (a parent for nested
	// cgroups, or a target for MoveAll).
	NoWorkers bool
}

func (d CgroupDef) work() workload.Kind {
	if d.Work == nil {
		return workload.CpuSpin()
	}
	return d.Work
}

func (d CgroupDef) workers(env *Env) int {
	switch {
	case d.NoWorkers:
		return 0
	case d.Workers > 0:
		return d.Workers
	}
	return env.WorkersPerCgroup
}

func (d CgroupDef) validate(env *Env) error {
	if d.Name == "" {
		return fmt.Errorf("CgroupDef: empty Name")
	}
	if d.Workers < 0 {
		return fmt.Errorf("cgroup %s: Workers is %d: must be at least 1 (0 means the test's WorkersPerCgroup)", d.Name, d.Workers)
	}
	k := d.work()
	if err := k.Validate(); err != nil {
		return fmt.Errorf("cgroup %s: %w", d.Name, err)
	}
	if n, g := d.workers(env), k.GroupSize(); n%g != 0 {
		return fmt.Errorf("cgroup %s: %d workers cannot be split into groups of %d for %s: use a multiple of %d", d.Name, n, g, k, g)
	}
	return nil
}
