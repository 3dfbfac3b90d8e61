package scenario

import (
	"fmt"
	"time"
)

// Op is one change a step makes.
type Op struct {
	desc  string
	apply func(r *run) error
}

func (o Op) String() string { return o.desc }

// AddCgroup creates a cgroup, applies its cpuset and starts its workers.
func AddCgroup(def CgroupDef) Op {
	return Op{"add " + def.Name, func(r *run) error { return r.add(def) }}
}

// RemoveCgroup stops the workers of a cgroup (and of its children) and
// removes it.
func RemoveCgroup(name string) Op {
	return Op{"remove " + name, func(r *run) error { return r.remove(name) }}
}

// SetCpuset changes a cgroup's cpuset.
func SetCpuset(name string, c Cpuset) Op {
	return Op{fmt.Sprintf("cpuset %s=%s", name, c), func(r *run) error { return r.setCpuset(name, c) }}
}

// ClearCpuset lifts a cgroup's cpuset.
func ClearCpuset(name string) Op {
	return Op{"clear cpuset " + name, func(r *run) error { return r.setCpuset(name, Cpuset{}) }}
}

// SwapCpusets exchanges the cpusets of two cgroups.
func SwapCpusets(a, b string) Op {
	return Op{fmt.Sprintf("swap cpusets %s<->%s", a, b), func(r *run) error { return r.swap(a, b) }}
}

// Spawn starts n more workers in a cgroup, like its own.
func Spawn(name string, n int) Op {
	return Op{fmt.Sprintf("spawn %d in %s", n, name), func(r *run) error {
		g, err := r.group(name)
		if err != nil {
			return err
		}
		return r.spawn(g, n)
	}}
}

// StopWorkers stops a cgroup's workers (their reports are kept).
func StopWorkers(name string) Op {
	return Op{"stop workers of " + name, func(r *run) error {
		g, err := r.group(name)
		if err != nil {
			return err
		}
		return r.stopGroup(g)
	}}
}

// SetAffinity changes the affinity of a cgroup's running workers.
func SetAffinity(name string, a Affinity) Op {
	return Op{fmt.Sprintf("affinity %s=%s", name, a), func(r *run) error { return r.setAffinity(name, a) }}
}

// MoveAll moves every task of cgroup from into cgroup to.
func MoveAll(from, to string) Op {
	return Op{fmt.Sprintf("move all %s->%s", from, to), func(r *run) error { return r.moveAll(from, to) }}
}

// Hold is how long a step lasts after its ops. The zero value does not
// wait.
type Hold struct {
	frac float64
	d    time.Duration
}

// HoldFrac holds for a fraction of the test's duration.
func HoldFrac(f float64) Hold { return Hold{frac: f} }

// HoldFor holds for a fixed time.
func HoldFor(d time.Duration) Hold { return Hold{d: d} }

func (h Hold) duration(env *Env) time.Duration {
	return h.d + time.Duration(h.frac*float64(env.Duration))
}

// Step applies Ops, then holds; during the hold, when Every is set, it
// applies Loop every Every.
type Step struct {
	Ops   []Op
	Hold  Hold
	Every time.Duration
	Loop  []Op
}
