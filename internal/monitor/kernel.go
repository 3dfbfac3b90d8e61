// Package monitor watches a guest kernel's scheduler state from the host,
// without anything running in the guest: it reads the guest's RAM (which
// the host maps, see vm.Memory), finds the kernel's runqueues through the
// symbols and BTF type information of the kernel's own vmlinux (never
// hard-coded offsets), and samples each CPU's runqueue every interval while
// the test function runs. Package verify judges the samples.
//
// Address translation follows x86-64 Linux: kernel-image addresses map to
// physical ones at __START_KERNEL_map plus phys_base (found by matching the
// kernel's banner string, so a relocated kernel works too), the direct map
// at page_offset_base (read from the guest), and anything else through a
// walk of the kernel's own page tables (init_top_pgt, 4 or 5 levels).
package monitor

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// Kernel is what the monitor knows of a kernel from its vmlinux: the
// addresses of the symbols it reads and the layout of struct rq.
type Kernel struct {
	// Path is the vmlinux.
	Path string
	syms map[string]uint64
	// banner is the start of linux_banner as the vmlinux holds it.
	banner []byte
	rq     rqLayout
}

// rqLayout is where the sampled fields sit in struct rq.
type rqLayout struct {
	size       uint32
	nrRunning  field
	clock      field
	hasScx     bool
	scxRunning field // rq.scx.nr_running
	scxDSQ     field // rq.scx.local_dsq.nr
}

// field is a member at offset of size bytes (1, 2, 4 or 8).
type field struct {
	off, size uint32
}

// symbols the monitor needs; optional ones may be absent.
var (
	requiredSyms = []string{"runqueues", "__per_cpu_offset", "page_offset_base", "linux_banner", "init_top_pgt", "nr_cpu_ids"}
	optionalSyms = []string{"__pgtable_l5_enabled", "phys_base", "scx_watchdog_timeout"}
)

// ErrNoVmlinux is wrapped by LoadKernel's error when there is no vmlinux
// to read: the monitor cannot run without one.
var ErrNoVmlinux = errors.New("no vmlinux")

var kernels sync.Map // path+size+mtime -> *loadResult

type loadResult struct {
	once sync.Once
	k    *Kernel
	err  error
}

// LoadKernel reads the symbols and struct layouts the monitor needs from
// vmlinux, once per file per process. A missing symbol or type is an error
// naming it: the monitor never guesses an offset.
func LoadKernel(vmlinux string) (*Kernel, error) {
	if vmlinux == "" {
		return nil, fmt.Errorf("monitor: %w (the kernel image has no vmlinux beside it)", ErrNoVmlinux)
	}
	st, err := os.Stat(vmlinux)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w: %v", ErrNoVmlinux, err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", vmlinux, st.Size(), st.ModTime().UnixNano())
	v, _ := kernels.LoadOrStore(key, &loadResult{})
	r := v.(*loadResult)
	r.once.Do(func() { r.k, r.err = loadKernel(vmlinux) })
	return r.k, r.err
}

func loadKernel(path string) (*Kernel, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("monitor: vmlinux %s: %w", path, err)
	}
	defer f.Close()
	k := &Kernel{Path: path, syms: map[string]uint64{}}
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("monitor: vmlinux %s: symbols: %w", path, err)
	}
	want := map[string]bool{}
	for _, n := range append(append([]string{}, requiredSyms...), optionalSyms...) {
		want[n] = true
	}
	for _, s := range syms {
		if want[s.Name] {
			k.syms[s.Name] = s.Value
		}
	}
	var missing []string
	for _, n := range requiredSyms {
		if _, ok := k.syms[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("monitor: vmlinux %s lacks the symbol(s) %v (a kernel without SMP or KALLSYMS_ALL?)", path, missing)
	}
	if k.banner, err = symbolBytes(f, k.syms["linux_banner"], 64); err != nil {
		return nil, fmt.Errorf("monitor: vmlinux %s: linux_banner: %w", path, err)
	}
	spec, err := btf.LoadSpec(path)
	if err != nil {
		return nil, fmt.Errorf("monitor: vmlinux %s: BTF: %w (the kernel needs CONFIG_DEBUG_INFO_BTF)", path, err)
	}
	if k.rq, err = rqFields(spec); err != nil {
		return nil, fmt.Errorf("monitor: vmlinux %s: %w", path, err)
	}
	return k, nil
}

// symbolBytes reads n bytes of the section holding the symbol at addr.
func symbolBytes(f *elf.File, addr uint64, n int) ([]byte, error) {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || addr < s.Addr || addr+uint64(n) > s.Addr+s.Size {
			continue
		}
		b := make([]byte, n)
		if _, err := s.ReadAt(b, int64(addr-s.Addr)); err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("no section holds %#x", addr)
}

// rqFields finds the sampled members of struct rq in the kernel's BTF.
func rqFields(spec *btf.Spec) (rqLayout, error) {
	var rq *btf.Struct
	if err := spec.TypeByName("rq", &rq); err != nil {
		return rqLayout{}, fmt.Errorf("BTF: struct rq: %w", err)
	}
	l := rqLayout{size: rq.Size}
	var err error
	if l.nrRunning, err = intMember(rq, "nr_running"); err != nil {
		return rqLayout{}, err
	}
	if l.clock, err = intMember(rq, "clock"); err != nil {
		return rqLayout{}, err
	}
	if _, _, ok := findMember(rq, "scx"); ok {
		l.hasScx = true
		if l.scxRunning, err = intMember(rq, "scx", "nr_running"); err != nil {
			return rqLayout{}, err
		}
		if l.scxDSQ, err = intMember(rq, "scx", "local_dsq", "nr"); err != nil {
			return rqLayout{}, err
		}
	}
	return l, nil
}

// member returns the offset and size of the member at path (names of
// nested members; anonymous structs and unions are looked through).
func member(s *btf.Struct, path ...string) (field, error) {
	var off uint32
	var t btf.Type = s
	for i, name := range path {
		m, base, ok := findMember(t, name)
		if !ok {
			return field{}, fmt.Errorf("BTF: struct rq has no member %v", path[:i+1])
		}
		if m.BitfieldSize != 0 {
			return field{}, fmt.Errorf("BTF: rq member %v is a bit field", path[:i+1])
		}
		off += base + uint32(m.Offset.Bytes())
		t = m.Type
	}
	size, err := btf.Sizeof(t)
	if err != nil {
		return field{}, fmt.Errorf("BTF: size of rq member %v: %w", path, err)
	}
	return field{off: off, size: uint32(size)}, nil
}

// intMember is member for an integer of 1, 2, 4 or 8 bytes.
func intMember(s *btf.Struct, path ...string) (field, error) {
	f, err := member(s, path...)
	if err != nil {
		return field{}, err
	}
	switch f.size {
	case 1, 2, 4, 8:
		return f, nil
	}
	return field{}, fmt.Errorf("BTF: rq member %v has %d bytes, want an integer of 1, 2, 4 or 8", path, f.size)
}

// findMember finds name in the struct or union t, looking through
// anonymous members; base is the offset of the anonymous member holding it.
func findMember(t btf.Type, name string) (btf.Member, uint32, bool) {
	var members []btf.Member
	switch x := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		members = x.Members
	case *btf.Union:
		members = x.Members
	default:
		return btf.Member{}, 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m, 0, true
		}
	}
	for _, m := range members {
		if m.Name != "" {
			continue
		}
		if inner, base, ok := findMember(m.Type, name); ok {
			return inner, base + uint32(m.Offset.Bytes()), true
		}
	}
	return btf.Member{}, 0, false
}

// HasScx reports whether the kernel has sched_ext (struct rq has scx).
func (k *Kernel) HasScx() bool { return k.rq.hasScx }

// Symbol returns the address of a symbol LoadKernel read.
func (k *Kernel) Symbol(name string) (uint64, bool) {
	v, ok := k.syms[name]
	return v, ok
}

// bannerMatches reports whether b starts like the kernel's banner.
func (k *Kernel) bannerMatches(b []byte) bool {
	return len(b) >= len(k.banner) && bytes.Equal(b[:len(k.banner)], k.banner)
}
