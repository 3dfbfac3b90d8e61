package scenario

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

type affinityKind int

const (
	inherit affinityKind = iota
	randomSubset
	llcAligned
	singleCPU
	exactAffinity
)

// Affinity says which CPUs each worker of a cgroup may run on, within the
// cgroup's cpuset. The zero value inherits the cgroup's CPUs.
type Affinity struct {
	kind affinityKind
	n    int
	cpus []int
}

// RandomAffinity pins each worker to n CPUs drawn at random from the
// cgroup's CPUs (seeded by the worker's index, so runs repeat). Each
// SetAffinity op applying it draws anew.
func RandomAffinity(n int) Affinity { return Affinity{kind: randomSubset, n: n} }

// LLCAffinity pins worker i to the CPUs of the i-th LLC (round robin) among
// the LLCs the cgroup's CPUs touch.
func LLCAffinity() Affinity { return Affinity{kind: llcAligned} }

// SingleCPU pins worker i to the i-th CPU (round robin) of the cgroup.
func SingleCPU() Affinity { return Affinity{kind: singleCPU} }

// ExactAffinity pins every worker to exactly cpus.
func ExactAffinity(cpus ...int) Affinity { return Affinity{kind: exactAffinity, cpus: cpus} }

// IsZero reports whether a inherits the cgroup's CPUs.
func (a Affinity) IsZero() bool { return a.kind == inherit }

func (a Affinity) String() string {
	switch a.kind {
	case randomSubset:
		return fmt.Sprintf("random(%d)", a.n)
	case llcAligned:
		return "llc"
	case singleCPU:
		return "single"
	case exactAffinity:
		return fmt.Sprintf("exact%v", a.cpus)
	}
	return "inherit"
}

// For returns worker i's CPUs given the cgroup's CPUs, or nil to inherit.
func (a Affinity) For(i int, cgroupCPUs []int, env *Env) ([]int, error) {
	return a.forGen(i, 0, cgroupCPUs, env)
}

// forGen is For for the gen-th application of a (0 when the workers
// start): RandomAffinity draws differently for each gen.
func (a Affinity) forGen(i int, gen uint64, cgroupCPUs []int, env *Env) ([]int, error) {
	if len(cgroupCPUs) == 0 && a.kind != inherit && a.kind != exactAffinity {
		return nil, fmt.Errorf("affinity %s: the cgroup has no CPUs", a)
	}
	switch a.kind {
	case randomSubset:
		if a.n < 1 || a.n > len(cgroupCPUs) {
			return nil, fmt.Errorf("affinity %s: want 1 to %d CPUs", a, len(cgroupCPUs))
		}
		r := rand.New(rand.NewPCG(uint64(i), 0x6b747374+gen))
		perm := r.Perm(len(cgroupCPUs))
		out := make([]int, a.n)
		for j := range out {
			out[j] = cgroupCPUs[perm[j]]
		}
		slices.Sort(out)
		return out, nil
	case llcAligned:
		var llcs []int
		for _, c := range cgroupCPUs {
			if l := env.Topology.LLCOf(c); !slices.Contains(llcs, l) {
				llcs = append(llcs, l)
			}
		}
		l := llcs[i%len(llcs)]
		var out []int
		for _, c := range cgroupCPUs {
			if env.Topology.LLCOf(c) == l {
				out = append(out, c)
			}
		}
		return out, nil
	case singleCPU:
		return []int{cgroupCPUs[i%len(cgroupCPUs)]}, nil
	case exactAffinity:
		if len(a.cpus) == 0 {
			return nil, fmt.Errorf("affinity %s: no CPUs", a)
		}
		return slices.Clone(a.cpus), nil
	}
	return nil, nil
}
