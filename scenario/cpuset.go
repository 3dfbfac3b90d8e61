package scenario

import (
	"fmt"
	"math"
	"slices"
)

type cpusetKind int

const (
	allCPUs cpusetKind = iota
	byLLC
	byNode
	byRange
	byDisjoint
	byOverlap
	exactCPUs
)

// Cpuset describes a set of CPUs relative to the guest's topology. The zero
// value means no restriction.
type Cpuset struct {
	kind     cpusetKind
	ids      []int
	from, to float64
	i, n     int
}

// LLCs is the CPUs of the given LLCs.
func LLCs(llcs ...int) Cpuset { return Cpuset{kind: byLLC, ids: llcs} }

// Nodes is the CPUs of the given NUMA nodes; the cgroup's cpuset.mems is
// set to the nodes too.
func Nodes(nodes ...int) Cpuset { return Cpuset{kind: byNode, ids: nodes} }

// Range is the usable CPUs from fraction from to fraction to of their
// list: Range(0, 0.5) is the first half. It holds at least one CPU.
func Range(from, to float64) Cpuset { return Cpuset{kind: byRange, from: from, to: to} }

// Disjoint is part i (from 0) of n equal, disjoint parts of the usable
// CPUs; when the CPUs do not divide evenly, the first parts get one more.
func Disjoint(i, n int) Cpuset { return Cpuset{kind: byDisjoint, i: i, n: n} }

// Overlap is part i of n parts of the usable CPUs that overlap their
// neighbours: Disjoint(i, n) widened by frac of a part on each side.
func Overlap(i, n int, frac float64) Cpuset { return Cpuset{kind: byOverlap, i: i, n: n, from: frac} }

// CPUs is exactly the given CPUs.
func CPUs(cpus ...int) Cpuset { return Cpuset{kind: exactCPUs, ids: cpus} }

// IsZero reports whether c leaves the CPUs unrestricted.
func (c Cpuset) IsZero() bool { return c.kind == allCPUs }

func (c Cpuset) String() string {
	switch c.kind {
	case byLLC:
		return fmt.Sprintf("LLCs%v", c.ids)
	case byNode:
		return fmt.Sprintf("Nodes%v", c.ids)
	case byRange:
		return fmt.Sprintf("Range(%g,%g)", c.from, c.to)
	case byDisjoint:
		return fmt.Sprintf("Disjoint(%d/%d)", c.i, c.n)
	case byOverlap:
		return fmt.Sprintf("Overlap(%d/%d,%g)", c.i, c.n, c.from)
	case exactCPUs:
		return fmt.Sprintf("CPUs%v", c.ids)
	}
	return "all"
}

// Resolve returns the CPUs c stands for in env, sorted, and for Nodes the
// memory nodes. Only usable CPUs are returned: LLCs and Nodes leave out
// the CPUs of theirs that env.CPUs lacks. Every cpuset but the zero value
// resolves to at least one CPU or fails.
func (c Cpuset) Resolve(env *Env) (cpus, mems []int, err error) {
	usable := env.CPUs
	t := env.Topology
	switch c.kind {
	case allCPUs:
		return slices.Clone(usable), nil, nil
	case byLLC:
		for _, l := range c.ids {
			if l < 0 || l >= t.LLCs {
				return nil, nil, fmt.Errorf("cpuset %s: LLC %d does not exist (the guest has %d)", c, l, t.LLCs)
			}
			cpus = append(cpus, usableOf(t.LLCCPUs(l), usable)...)
		}
	case byNode:
		for _, n := range c.ids {
			if n < 0 || n >= t.NumaNodes {
				return nil, nil, fmt.Errorf("cpuset %s: NUMA node %d does not exist (the guest has %d)", c, n, t.NumaNodes)
			}
			cpus = append(cpus, usableOf(t.NodeCPUs(n), usable)...)
		}
		mems = slices.Clone(c.ids)
		slices.Sort(mems)
		mems = slices.Compact(mems)
	case byRange:
		if !(0 <= c.from && c.from < c.to && c.to <= 1) { // NaN too
			return nil, nil, fmt.Errorf("cpuset %s: want 0 <= from < to <= 1", c)
		}
		lo := int(math.Floor(scale(c.from, len(usable))))
		hi := max(lo+1, int(math.Ceil(scale(c.to, len(usable)))))
		cpus = slices.Clone(usable[lo:min(hi, len(usable))])
	case byDisjoint, byOverlap:
		if c.n < 1 || c.i < 0 || c.i >= c.n || c.n > len(usable) {
			return nil, nil, fmt.Errorf("cpuset %s: want 0 <= i < n <= %d usable CPUs", c, len(usable))
		}
		lo, hi := part(len(usable), c.i, c.n)
		if c.kind == byOverlap {
			if !(0 <= c.from && c.from <= 1) { // NaN too
				return nil, nil, fmt.Errorf("cpuset %s: overlap fraction must be within [0, 1]", c)
			}
			w := int(math.Ceil(scale(c.from, hi-lo)))
			lo, hi = max(0, lo-w), min(len(usable), hi+w)
		}
		cpus = slices.Clone(usable[lo:hi])
	case exactCPUs:
		for _, cpu := range c.ids {
			if !slices.Contains(usable, cpu) {
				return nil, nil, fmt.Errorf("cpuset %s: CPU %d is not a usable CPU of the guest (%v)", c, cpu, usable)
			}
		}
		cpus = slices.Clone(c.ids)
	}
	slices.Sort(cpus)
	cpus = slices.Compact(cpus)
	if len(cpus) == 0 {
		return nil, nil, fmt.Errorf("cpuset %s: no usable CPUs (the guest's are %v)", c, usable)
	}
	return cpus, mems, nil
}

// usableOf returns the CPUs of cpus that are in usable.
func usableOf(cpus, usable []int) []int {
	return slices.DeleteFunc(cpus, func(c int) bool { return !slices.Contains(usable, c) })
}

// scale returns f*n, snapped to the nearest integer when it is off by a
// rounding error (0.28*25 is 7.000000000000001 in floating point, and its
// ceiling must be 7).
func scale(f float64, n int) float64 {
	x := f * float64(n)
	if r := math.Round(x); math.Abs(x-r) < 1e-9 {
		return r
	}
	return x
}

// part returns the index range of part i of n parts of size items, the
// first size%n parts one larger.
func part(size, i, n int) (lo, hi int) {
	base, extra := size/n, size%n
	lo = i*base + min(i, extra)
	hi = lo + base
	if i < extra {
		hi++
	}
	return lo, hi
}
