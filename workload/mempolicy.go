package workload

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MemPolicy is a NUMA memory policy, set with set_mempolicy(2). The zero
// value leaves the inherited policy.
type MemPolicy struct {
	Mode  MemMode `json:"mode,omitempty"`
	Nodes []int   `json:"nodes,omitempty"`
}

// MemMode names a memory policy mode.
type MemMode string

// Memory policy modes.
const (
	MemInherit    MemMode = ""           // leave the inherited policy
	MemBind       MemMode = "bind"       // MPOL_BIND
	MemInterleave MemMode = "interleave" // MPOL_INTERLEAVE
	MemPreferred  MemMode = "preferred"  // MPOL_PREFERRED
	MemLocal      MemMode = "local"      // MPOL_LOCAL
)

// Bind allocates only on nodes.
func Bind(nodes ...int) MemPolicy { return MemPolicy{MemBind, append([]int(nil), nodes...)} }

// Interleave allocates round-robin over nodes.
func Interleave(nodes ...int) MemPolicy {
	return MemPolicy{MemInterleave, append([]int(nil), nodes...)}
}

// Preferred allocates on node when it can.
func Preferred(node int) MemPolicy { return MemPolicy{MemPreferred, []int{node}} }

// Local allocates on the node of the CPU that allocates.
func Local() MemPolicy { return MemPolicy{Mode: MemLocal} }

func (m MemPolicy) String() string {
	if m.Mode == MemInherit {
		return "inherit"
	}
	return fmt.Sprintf("%s%v", m.Mode, m.Nodes)
}

// maxNodes bounds node numbers (the kernel's MAX_NUMNODES is at most 1024).
const maxNodes = 1024

func (m MemPolicy) validate() error {
	var want string
	switch m.Mode {
	case MemInherit, MemLocal:
		if len(m.Nodes) != 0 {
			want = "no nodes"
		}
	case MemBind, MemInterleave:
		if len(m.Nodes) == 0 {
			want = "at least one node"
		}
	case MemPreferred:
		if len(m.Nodes) != 1 {
			want = "exactly one node"
		}
	default:
		return fmt.Errorf("unknown memory policy mode %q", m.Mode)
	}
	if want != "" {
		return fmt.Errorf("memory policy %v: want %s", m, want)
	}
	for _, n := range m.Nodes {
		if n < 0 || n >= maxNodes {
			return fmt.Errorf("memory policy %v: node %d out of range", m, n)
		}
	}
	return nil
}

// apply sets the memory policy of the calling thread (threads it creates
// later inherit it).
func (m MemPolicy) apply() error {
	var mode uintptr
	switch m.Mode {
	case MemInherit:
		return nil
	case MemBind:
		mode = unix.MPOL_BIND
	case MemInterleave:
		mode = unix.MPOL_INTERLEAVE
	case MemPreferred:
		mode = unix.MPOL_PREFERRED
	case MemLocal:
		mode = unix.MPOL_LOCAL
	}
	var mask [maxNodes / 64]uint64
	for _, n := range m.Nodes {
		mask[n/64] |= 1 << (n % 64)
	}
	var maskPtr, maxnode uintptr
	if len(m.Nodes) > 0 {
		// The kernel reads maxnode-1 bits.
		maskPtr, maxnode = uintptr(unsafe.Pointer(&mask[0])), maxNodes+1
	}
	if _, _, errno := unix.Syscall(unix.SYS_SET_MEMPOLICY, mode, maskPtr, maxnode); errno != 0 {
		return fmt.Errorf("set_mempolicy %v: %w", m, errno)
	}
	return nil
}
