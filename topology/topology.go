// Package topology describes the CPU topology of a guest: NUMA nodes, last
// level caches (LLCs), cores per LLC and threads per core.
//
// A Topology is plain data with a compact text form, "1n2l4c2t" (one NUMA
// node, two LLCs, four cores per LLC, two threads per core). CPUs are
// numbered threads fastest, then cores, then LLCs, which is how QEMU numbers
// vCPUs for -smp sockets=LLCs,cores=Cores,threads=Threads and how the guest
// kernel enumerates them. LLCs are split evenly and in order across NUMA
// nodes: with 2 nodes and 4 LLCs, LLCs 0-1 are on node 0 and 2-3 on node 1.
//
// QEMUArgs turns a Topology into the QEMU options that make the guest see it
// (one socket per LLC, since QEMU shares L3 per socket; one -numa node per
// node, whose memory backend the caller defines), NodeMemoryMB splits the
// guest's RAM across the nodes, and Read reports what a running kernel sees
// in sysfs, so the two can be compared.
package topology

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Topology is a guest CPU topology. The zero value is not valid; see Validate.
type Topology struct {
	NumaNodes int `json:"numa_nodes"`
	LLCs      int `json:"llcs"`
	Cores     int `json:"cores"`   // cores per LLC
	Threads   int `json:"threads"` // threads per core
}

// New returns the topology numa nodes, llcs LLCs, cores per LLC and threads per core.
func New(numa, llcs, cores, threads int) Topology {
	return Topology{NumaNodes: numa, LLCs: llcs, Cores: cores, Threads: threads}
}

// String returns the compact form, for example "1n2l4c2t".
func (t Topology) String() string {
	return fmt.Sprintf("%dn%dl%dc%dt", t.NumaNodes, t.LLCs, t.Cores, t.Threads)
}

var shapeRE = regexp.MustCompile(`^(\d+)n(\d+)l(\d+)c(\d+)t$`)

// dimensions names the four counts in the order of the compact form.
var dimensions = [4]string{"NUMA nodes", "LLCs", "cores per LLC", "threads per core"}

// Parse parses the compact form produced by String, such as "2n4l1c2t", and
// validates the result.
func Parse(s string) (Topology, error) {
	m := shapeRE.FindStringSubmatch(s)
	if m == nil {
		return Topology{}, fmt.Errorf("topology %q: want the form <numa>n<llcs>l<cores>c<threads>t, for example 1n2l4c2t", s)
	}
	var v [4]int
	for i := range v {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			// The pattern admits only digits, so the one possible error
			// is a number too large for an int.
			return Topology{}, fmt.Errorf("topology %q: %s is %s: at most %d", s, dimensions[i], m[i+1], limit(i))
		}
		v[i] = n
	}
	t := New(v[0], v[1], v[2], v[3])
	if err := t.Validate(); err != nil {
		return Topology{}, fmt.Errorf("topology %q: %w", s, err)
	}
	return t, nil
}

// MaxCPUs is the largest vCPU count a topology may have (the guest kernel's
// CONFIG_NR_CPUS). It also bounds each count on its own.
const MaxCPUs = 512

// MaxNumaNodes is the most NUMA nodes a topology may have: the guest kernel
// is built with the x86-64 default CONFIG_NODES_SHIFT=6 (kernel/ktstr.config
// leaves it alone), so it brings up at most 64 nodes.
const MaxNumaNodes = 64

// limit is the largest value of dimension i (in the order of dimensions).
func limit(i int) int {
	if i == 0 {
		return MaxNumaNodes
	}
	return MaxCPUs
}

// Validate reports whether the topology can be built: every count at least
// 1, NUMA nodes at most MaxNumaNodes and every other count at most MaxCPUs
// (checked before anything is multiplied, so CPUs cannot overflow), LLCs
// divisible by NUMA nodes (so at least one LLC per node), and at most
// MaxCPUs CPUs in all. CPUs of a valid topology is between 1 and MaxCPUs.
func (t Topology) Validate() error {
	var errs []error
	for i, v := range [4]int{t.NumaNodes, t.LLCs, t.Cores, t.Threads} {
		switch {
		case v < 1:
			errs = append(errs, fmt.Errorf("%s is %d: must be at least 1", dimensions[i], v))
		case v > limit(i):
			errs = append(errs, fmt.Errorf("%s is %d: at most %d", dimensions[i], v, limit(i)))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if t.NumaNodes > t.LLCs {
		return fmt.Errorf("%d NUMA nodes but %d LLCs: each node needs at least one LLC, so make LLCs a multiple of NUMA nodes", t.NumaNodes, t.LLCs)
	}
	if t.LLCs%t.NumaNodes != 0 {
		return fmt.Errorf("%d LLCs cannot be split evenly across %d NUMA nodes: make LLCs a multiple of NUMA nodes", t.LLCs, t.NumaNodes)
	}
	// Each factor is at most MaxCPUs, so the product is at most MaxCPUs^3
	// and fits in an int.
	if n := t.CPUs(); n > MaxCPUs {
		return fmt.Errorf("%s has %d CPUs: at most %d are supported", t, n, MaxCPUs)
	}
	return nil
}

// MaxMemoryMB is the most guest memory ValidateMemory allows: 1 TiB, more
// than any test guest needs, and small enough that sizes in the QEMU
// options (and any arithmetic on them) stay far from overflow.
const MaxMemoryMB = 1 << 20

// ValidateMemory reports whether memoryMB of guest RAM suits the topology:
// at least MinNodeMemoryMB for each NUMA node and at most MaxMemoryMB. The
// topology must be valid (see Validate), which bounds NUMA nodes, so the
// product below cannot overflow either.
func (t Topology) ValidateMemory(memoryMB int) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if memoryMB < MinNodeMemoryMB*t.NumaNodes {
		return fmt.Errorf("%d MB of memory for %d NUMA nodes: each node needs at least %d MB", memoryMB, t.NumaNodes, MinNodeMemoryMB)
	}
	if memoryMB > MaxMemoryMB {
		return fmt.Errorf("%d MB of memory: at most %d MB (1 TiB)", memoryMB, MaxMemoryMB)
	}
	return nil
}

// CPUs is the total number of CPUs.
func (t Topology) CPUs() int { return t.LLCs * t.Cores * t.Threads }

// CPUsPerLLC is the number of CPUs sharing one LLC.
func (t Topology) CPUsPerLLC() int { return t.Cores * t.Threads }

// LLCsPerNode is the number of LLCs in each NUMA node.
func (t Topology) LLCsPerNode() int { return t.LLCs / t.NumaNodes }

// SMT reports whether cores have more than one thread.
func (t Topology) SMT() bool { return t.Threads > 1 }

// CPU returns the id of the given thread of the given core of the given LLC.
func (t Topology) CPU(llc, core, thread int) int {
	return (llc*t.Cores+core)*t.Threads + thread
}

// LLCOf returns the LLC that cpu belongs to.
func (t Topology) LLCOf(cpu int) int { return cpu / t.CPUsPerLLC() }

// CoreOf returns the core index of cpu within its LLC.
func (t Topology) CoreOf(cpu int) int { return cpu % t.CPUsPerLLC() / t.Threads }

// NodeOfLLC returns the NUMA node holding llc.
func (t Topology) NodeOfLLC(llc int) int { return llc / t.LLCsPerNode() }

// NodeOf returns the NUMA node of cpu.
func (t Topology) NodeOf(cpu int) int { return t.NodeOfLLC(t.LLCOf(cpu)) }

// LLCCPUs returns the CPUs of llc in ascending order.
func (t Topology) LLCCPUs(llc int) []int { return span(llc*t.CPUsPerLLC(), t.CPUsPerLLC()) }

// NodeCPUs returns the CPUs of NUMA node in ascending order.
func (t Topology) NodeCPUs(node int) []int {
	per := t.LLCsPerNode() * t.CPUsPerLLC()
	return span(node*per, per)
}

// NodeLLCs returns the LLCs of NUMA node in ascending order.
func (t Topology) NodeLLCs(node int) []int { return span(node*t.LLCsPerNode(), t.LLCsPerNode()) }

// Siblings returns the SMT siblings of cpu, cpu included, ascending.
func (t Topology) Siblings(cpu int) []int { return span(cpu-cpu%t.Threads, t.Threads) }

// Distance is the NUMA distance the guest is given between from and to: 10
// within a node, 20 across nodes (the ACPI SLIT convention).
func (t Topology) Distance(from, to int) int {
	if from == to {
		return 10
	}
	return 20
}

// Expected returns the Observed view a kernel booted with this topology
// should report.
func (t Topology) Expected() Observed {
	o := Observed{CPUs: t.CPUs()}
	for l := 0; l < t.LLCs; l++ {
		o.LLCs = append(o.LLCs, t.LLCCPUs(l))
	}
	for c := 0; c < t.CPUs(); c += t.Threads {
		o.SMT = append(o.SMT, t.Siblings(c))
	}
	for n := 0; n < t.NumaNodes; n++ {
		o.NUMA = append(o.NUMA, t.NodeCPUs(n))
		row := make([]int, t.NumaNodes)
		for m := range row {
			row[m] = t.Distance(n, m)
		}
		o.Distances = append(o.Distances, row)
	}
	return o
}

func span(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}
