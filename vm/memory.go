package vm

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Guest-physical layout of the q35 machine (QEMU 7.2, hw/i386/pc_q35.c,
// pc_q35_init): the machine's RAM ("pc.ram": node 0's backend, then node
// 1's, and so on, one after another) is mapped from address 0 up to lowmem
// and the rest from 4 GiB. lowmem is 2 GiB when the RAM is 2816 MiB
// (0xb0000000) or more, else 2816 MiB, so that a guest with less RAM has all
// of it below 4 GiB.
const (
	q35LowmemSplit = 0xb0000000 // RAM of this size or more is split at q35LowmemLarge
	q35LowmemLarge = 0x80000000
	fourGiB        = 1 << 32
	oneGiB         = 1 << 30
	// QEMU 7.1 and later (hw/i386/pc.c, pc_memory_init) move the RAM above
	// 4 GiB to 1 TiB for an AMD vCPU (TCG's -cpu max is one) when the end
	// of the 64-bit PCI hole, which follows that RAM rounded up to 1 GiB
	// and is 32 GiB on q35, reaches AMD's HyperTransport range. The layout
	// refuses such sizes rather than guess the vCPU's vendor.
	q35PCIHole64Size = 32 << 30
	amdHTStart       = 0xfd00000000
)

// MemRange is one guest-physical range of RAM and where it lives.
type MemRange struct {
	GPA    uint64 // first guest-physical address
	Size   uint64 // bytes
	Node   int    // the NUMA node whose memory backend holds it
	Offset uint64 // offset of GPA in that node's backend
}

// End is the first guest-physical address after the range.
func (r MemRange) End() uint64 { return r.GPA + r.Size }

func (r MemRange) String() string {
	return fmt.Sprintf("[%#x-%#x] node %d+%#x", r.GPA, r.End()-1, r.Node, r.Offset)
}

// q35Layout returns where QEMU's q35 machine maps RAM whose NUMA nodes have
// the given sizes in bytes, in ascending guest-physical order.
func q35Layout(nodeSizes []uint64) ([]MemRange, error) {
	var total uint64
	for n, s := range nodeSizes {
		if s == 0 || s > 1<<50 {
			return nil, fmt.Errorf("memory of NUMA node %d is %d bytes", n, s)
		}
		total += s
	}
	if total == 0 {
		return nil, errors.New("no memory")
	}
	lowmem := uint64(q35LowmemSplit)
	if total >= q35LowmemSplit {
		lowmem = q35LowmemLarge
	}
	below := min(total, lowmem)
	above := total - below
	if above > 0 {
		if hole64End := roundUp(fourGiB+above, oneGiB) + q35PCIHole64Size - 1; hole64End >= amdHTStart {
			maxMB := (amdHTStart-q35PCIHole64Size-fourGiB)>>20 + q35LowmemLarge>>20
			return nil, fmt.Errorf("%d MB of RAM: QEMU would move the RAM above 4 GiB to 1 TiB (AMD HyperTransport hole); at most %d MB", total>>20, maxMB)
		}
	}
	// Segments of pc.ram: [0, below) at address 0, [below, total) at 4 GiB.
	type segment struct{ ramOff, gpa, size uint64 }
	segs := []segment{{0, 0, below}}
	if above > 0 {
		segs = append(segs, segment{below, fourGiB, above})
	}
	var ranges []MemRange
	for _, sg := range segs {
		var nodeStart uint64
		for n, s := range nodeSizes {
			lo, hi := max(sg.ramOff, nodeStart), min(sg.ramOff+sg.size, nodeStart+s)
			if lo < hi {
				ranges = append(ranges, MemRange{GPA: sg.gpa + lo - sg.ramOff, Size: hi - lo, Node: n, Offset: lo - nodeStart})
			}
			nodeStart += s
		}
	}
	return ranges, nil
}

func roundUp(x, to uint64) uint64 { return (x + to - 1) / to * to }

// ErrNotRAM is wrapped by the error of a Memory read of an address range
// that is not all guest RAM.
var ErrNotRAM = errors.New("not guest RAM")

// ErrMemoryReleased is wrapped by the error of a Memory read after the VM
// has been reaped.
var ErrMemoryReleased = errors.New("guest memory released: the VM has been reaped")

// Memory is the guest's RAM as the host sees it (read-only).
//
// The VM creates each NUMA node's RAM as a memory file that QEMU maps
// shared, so a read sees what the guest wrote (with no ordering against
// the guest's vCPUs: a value being written may be read half old, half new).
// Memory reads the RAM itself: in the legacy window 0xa0000-0xfffff the
// guest may see ROM or devices instead, as the chipset decides.
type Memory struct {
	mu     sync.RWMutex
	ranges []MemRange // ascending GPA
	maps   [][]byte   // each node's RAM, nil once released
	files  []*os.File // each node's memfd, closed once QEMU has it
	huge   bool       // backed by 2 MiB hugepages
}

// newMemory creates one sealed memfd per node of the given sizes (bytes),
// from 2 MiB hugepages when huge is set, maps each read-only and shared,
// and lays them out as q35 does.
func newMemory(nodeSizes []uint64, huge bool) (_ *Memory, err error) {
	ranges, err := q35Layout(nodeSizes)
	if err != nil {
		return nil, err
	}
	m := &Memory{ranges: ranges, huge: huge}
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	if huge {
		flags |= unix.MFD_HUGETLB | unix.MFD_HUGE_2MB
	}
	defer func() {
		if err != nil {
			m.closeFiles()
			m.release()
		}
	}()
	for n, size := range nodeSizes {
		fd, err := unix.MemfdCreate(fmt.Sprintf("ktstr-ram-node%d", n), flags)
		if err != nil {
			return nil, fmt.Errorf("guest memory: memfd of node %d: %w", n, err)
		}
		f := os.NewFile(uintptr(fd), fmt.Sprintf("ktstr-ram-node%d", n))
		m.files = append(m.files, f)
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			return nil, fmt.Errorf("guest memory: size node %d's memfd to %d bytes: %w", n, size, err)
		}
		// Nobody may shrink the file under the host's mapping: a read past
		// its end would fault (SIGBUS) instead of failing.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
			return nil, fmt.Errorf("guest memory: seal node %d's memfd: %w", n, err)
		}
		b, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("guest memory: map node %d's %d bytes: %w", n, size, err)
		}
		m.maps = append(m.maps, b)
	}
	return m, nil
}

// closeFiles closes the memfds; the mappings keep the memory.
func (m *Memory) closeFiles() {
	for _, f := range m.files {
		f.Close()
	}
	m.files = nil
}

// release unmaps the memory; reads fail from then on.
func (m *Memory) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.maps {
		if b != nil {
			_ = unix.Munmap(b)
		}
	}
	m.maps = nil
}

// Ranges lists the guest-physical ranges of RAM in ascending order and
// where they live (node, offset), for messages and tests.
func (m *Memory) Ranges() []MemRange { return append([]MemRange(nil), m.ranges...) }

// Size is the guest's RAM in bytes.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.ranges {
		n += r.Size
	}
	return n
}

// ReadAt reads len(p) bytes at guest-physical address gpa. It fails (never
// panics) for an address outside RAM or a range that crosses a hole (the
// error wraps ErrNotRAM), and once the VM has been reaped (the error wraps
// ErrMemoryReleased); it reads all of p or nothing. A range may span NUMA
// nodes where their RAM is contiguous.
func (m *Memory) ReadAt(p []byte, gpa int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.maps == nil {
		return 0, fmt.Errorf("guest memory: read at %#x: %w", gpa, ErrMemoryReleased)
	}
	if gpa < 0 || int64(len(p)) > 1<<62-gpa {
		return 0, fmt.Errorf("guest memory: read of %d bytes at %#x: %w", len(p), gpa, ErrNotRAM)
	}
	start := uint64(gpa)
	end := start + uint64(len(p))
	// The first range that ends after start.
	i := sort.Search(len(m.ranges), func(i int) bool { return m.ranges[i].End() > start })
	if i == len(m.ranges) || m.ranges[i].GPA > start {
		return 0, fmt.Errorf("guest memory: read of %d bytes at %#x: %w (RAM is %s)", len(p), gpa, ErrNotRAM, m.describe())
	}
	// Check the whole span before copying anything.
	for j, at := i, start; at < end; j++ {
		if j == len(m.ranges) || m.ranges[j].GPA != at && j > i {
			return 0, fmt.Errorf("guest memory: read of %d bytes at %#x crosses a hole at %#x: %w (RAM is %s)", len(p), gpa, at, ErrNotRAM, m.describe())
		}
		at = m.ranges[j].End()
	}
	n := 0
	for j, at := i, start; at < end; j++ {
		r := m.ranges[j]
		off := r.Offset + at - r.GPA
		k := min(end, r.End()) - at
		n += copy(p[n:], m.maps[r.Node][off:off+k])
		at += k
	}
	return n, nil
}

func (m *Memory) describe() string {
	s := make([]string, len(m.ranges))
	for i, r := range m.ranges {
		s[i] = fmt.Sprintf("%#x-%#x", r.GPA, r.End()-1)
	}
	return strings.Join(s, ", ")
}
