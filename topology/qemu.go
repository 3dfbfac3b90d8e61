package topology

import (
	"fmt"
	"strconv"
)

// MinNodeMemoryMB is the least memory QEMUArgs gives one NUMA node.
const MinNodeMemoryMB = 64

// QEMUArgs returns the QEMU options that give a guest this topology and
// memoryMB of RAM: -smp with one socket per LLC (QEMU shares L3 per socket),
// and for more than one NUMA node a RAM backend and -numa node per node, the
// memory split evenly (the remainder on the last node), and the distance
// matrix of Distance.
func (t Topology) QEMUArgs(memoryMB int) ([]string, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if memoryMB < MinNodeMemoryMB*t.NumaNodes {
		return nil, fmt.Errorf("%d MB of memory for %d NUMA nodes: each node needs at least %d MB", memoryMB, t.NumaNodes, MinNodeMemoryMB)
	}
	args := []string{
		"-m", strconv.Itoa(memoryMB) + "M",
		"-smp", fmt.Sprintf("%d,sockets=%d,cores=%d,threads=%d", t.CPUs(), t.LLCs, t.Cores, t.Threads),
	}
	if t.NumaNodes == 1 {
		return args, nil
	}
	per := memoryMB / t.NumaNodes
	for n := 0; n < t.NumaNodes; n++ {
		size := per
		if n == t.NumaNodes-1 {
			size += memoryMB % t.NumaNodes
		}
		cpus := t.NodeCPUs(n)
		args = append(args,
			"-object", fmt.Sprintf("memory-backend-ram,id=mem%d,size=%dM", n, size),
			"-numa", fmt.Sprintf("node,nodeid=%d,cpus=%d-%d,memdev=mem%d", n, cpus[0], cpus[len(cpus)-1], n),
		)
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
