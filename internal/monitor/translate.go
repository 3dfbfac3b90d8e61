package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Mem is guest-physical memory (vm.Memory).
type Mem interface {
	ReadAt(p []byte, gpa int64) (int, error)
}

// startKernelMap is x86-64's __START_KERNEL_map: the kernel image's virtual
// addresses start here and map to physical ones from phys_base.
const startKernelMap = 0xffffffff80000000

// physAlign is the alignment a relocated kernel is loaded at
// (CONFIG_PHYSICAL_ALIGN's default): the candidates for phys_base.
const physAlign = 2 << 20

// Translator turns guest kernel virtual addresses into guest-physical ones.
type Translator struct {
	mem        Mem
	k          *Kernel
	ramTop     uint64 // highest guest-physical address of RAM, exclusive
	physBase   uint64
	pageOffset uint64
	l5         bool
	pgd        uint64 // guest-physical address of init_top_pgt
}

// ErrNotReady is wrapped by NewTranslator's error while the guest kernel
// has not yet set up what translation needs (early in boot).
var ErrNotReady = errors.New("guest kernel not ready")

// NewTranslator sets up translation for the guest whose RAM is mem, ramTop
// bytes of guest-physical address space. It finds phys_base by looking for
// the kernel's banner where each candidate puts it, then reads
// page_offset_base and whether 5-level paging is on from the guest.
func NewTranslator(k *Kernel, mem Mem, ramTop uint64) (*Translator, error) {
	t := &Translator{mem: mem, k: k, ramTop: ramTop}
	banner := k.syms["linux_banner"] - startKernelMap
	buf := make([]byte, len(k.banner))
	found := false
	for base := uint64(0); base+banner+uint64(len(buf)) <= ramTop; base += physAlign {
		if _, err := mem.ReadAt(buf, int64(base+banner)); err == nil && k.bannerMatches(buf) {
			t.physBase, found = base, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("monitor: the kernel's banner is nowhere in guest RAM: %w (or the guest runs another kernel than %s)", ErrNotReady, k.Path)
	}
	var err error
	if t.pageOffset, err = t.readImage64("page_offset_base"); err != nil {
		return nil, err
	}
	if t.pageOffset == 0 || t.pageOffset < 0xff00000000000000 {
		return nil, fmt.Errorf("monitor: page_offset_base is %#x: %w", t.pageOffset, ErrNotReady)
	}
	if _, ok := k.syms["__pgtable_l5_enabled"]; ok {
		v, err := t.readImage32("__pgtable_l5_enabled")
		if err != nil {
			return nil, err
		}
		t.l5 = v != 0
	}
	t.pgd = t.imagePhys(k.syms["init_top_pgt"])
	return t, nil
}

// imagePhys translates an address of the kernel image.
func (t *Translator) imagePhys(va uint64) uint64 { return va - startKernelMap + t.physBase }

func (t *Translator) readImage64(sym string) (uint64, error) {
	var b [8]byte
	if _, err := t.mem.ReadAt(b[:], int64(t.imagePhys(t.k.syms[sym]))); err != nil {
		return 0, fmt.Errorf("monitor: read %s: %w", sym, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (t *Translator) readImage32(sym string) (uint32, error) {
	var b [4]byte
	if _, err := t.mem.ReadAt(b[:], int64(t.imagePhys(t.k.syms[sym]))); err != nil {
		return 0, fmt.Errorf("monitor: read %s: %w", sym, err)
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// Phys translates a kernel virtual address: the kernel image and the
// direct map arithmetically, anything else (vmalloc, per-CPU chunks outside
// the first) by walking the kernel's page tables.
func (t *Translator) Phys(va uint64) (uint64, error) {
	switch {
	case va >= startKernelMap:
		return t.imagePhys(va), nil
	case va >= t.pageOffset && va-t.pageOffset < t.ramTop:
		return va - t.pageOffset, nil
	}
	return t.walk(va)
}

// Page table entry bits and the physical address mask.
const (
	ptePresent = 1 << 0
	ptePS      = 1 << 7
	pteAddr    = 0x000ffffffffff000
)

// walk translates va through init_top_pgt: 5 levels (PGD, P4D, PUD, PMD,
// PTE) with 5-level paging, else 4, honouring 1 GiB and 2 MiB pages.
func (t *Translator) walk(va uint64) (uint64, error) {
	shifts := []uint{39, 30, 21, 12}
	if t.l5 {
		shifts = []uint{48, 39, 30, 21, 12}
	}
	table := t.pgd
	for level, shift := range shifts {
		var b [8]byte
		idx := (va >> shift) & 511
		if _, err := t.mem.ReadAt(b[:], int64(table+idx*8)); err != nil {
			return 0, fmt.Errorf("monitor: page walk of %#x: %w", va, err)
		}
		e := binary.LittleEndian.Uint64(b[:])
		if e&ptePresent == 0 {
			return 0, fmt.Errorf("monitor: %#x is not mapped (level %d entry %#x)", va, level, e)
		}
		last := level == len(shifts)-1
		// A huge page at the PUD (1 GiB) or PMD (2 MiB) level.
		if !last && e&ptePS != 0 && (shift == 30 || shift == 21) {
			mask := uint64(1)<<shift - 1
			return (e & pteAddr &^ mask) | (va & mask), nil
		}
		if last {
			return (e & pteAddr) | (va & 0xfff), nil
		}
		table = e & pteAddr
	}
	return 0, fmt.Errorf("monitor: page walk of %#x fell through", va)
}

// Read reads len(p) bytes at kernel virtual address va, page by page.
func (t *Translator) Read(va uint64, p []byte) error {
	for len(p) > 0 {
		n := min(uint64(len(p)), 4096-(va&4095))
		pa, err := t.Phys(va)
		if err != nil {
			return err
		}
		if _, err := t.mem.ReadAt(p[:n], int64(pa)); err != nil {
			return fmt.Errorf("monitor: read %#x (guest-physical %#x): %w", va, pa, err)
		}
		va, p = va+n, p[n:]
	}
	return nil
}
