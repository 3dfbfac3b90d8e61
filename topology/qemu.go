package topology

import (
	"fmt"
)

// MinNodeMemoryMB is the least memory one NUMA node may have.
const MinNodeMemoryMB = 64

// NodeMemoryMB splits memoryMB of guest RAM across the NUMA nodes: evenly,
// the remainder on the last node. It fails when ValidateMemory does.
func (t Topology) NodeMemoryMB(memoryMB int) ([]int, error) {
	if err := t.ValidateMemory(memoryMB); err != nil {
		return nil, err
	}
	sizes := make([]int, t.NumaNodes)
	for n := range sizes {
		sizes[n] = memoryMB / t.NumaNodes
	}
	sizes[t.NumaNodes-1] += memoryMB % t.NumaNodes
	return sizes, nil
}

// QEMUArgs returns the QEMU options that give a guest this CPU topology:
// -smp with one socket per LLC (QEMU shares L3 per socket), and for more
// than one NUMA node a -numa node per node, whose RAM is the memory backend
// memdevs[node], and the distance matrix of Distance. memdevs holds one
// backend id per node; the caller defines the backends (sized by
// NodeMemoryMB) and the machine's memory size. With one node there is no
// -numa option and the caller gives the machine its backend directly.
func (t Topology) QEMUArgs(memdevs []string) ([]string, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if len(memdevs) != t.NumaNodes {
		return nil, fmt.Errorf("%d memory backends for %d NUMA nodes: want one per node", len(memdevs), t.NumaNodes)
	}
	args := []string{"-smp", fmt.Sprintf("%d,sockets=%d,cores=%d,threads=%d", t.CPUs(), t.LLCs, t.Cores, t.Threads)}
	if t.NumaNodes == 1 {
		return args, nil
	}
	for n := 0; n < t.NumaNodes; n++ {
		if memdevs[n] == "" {
			return nil, fmt.Errorf("NUMA node %d has no memory backend", n)
		}
		cpus := t.NodeCPUs(n)
		args = append(args, "-numa", fmt.Sprintf("node,nodeid=%d,cpus=%d-%d,memdev=%s", n, cpus[0], cpus[len(cpus)-1], memdevs[n]))
	}
	for a := 0; a < t.NumaNodes; a++ {
		for b := 0; b < t.NumaNodes; b++ {
			if a != b {
				args = append(args, "-numa", fmt.Sprintf("dist,src=%d,dst=%d,val=%d", a, b, t.Distance(a, b)))
			}
		}
	}
	return args, nil
}
