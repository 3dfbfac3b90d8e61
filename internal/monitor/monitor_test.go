package monitor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/verify"
)

// fakeRAM is guest-physical memory for tests: sparse 4 KiB pages.
type fakeRAM struct {
	top   uint64
	pages map[uint64][]byte
}

func newRAM(top uint64) *fakeRAM { return &fakeRAM{top: top, pages: map[uint64][]byte{}} }

func (r *fakeRAM) ReadAt(p []byte, gpa int64) (int, error) {
	a := uint64(gpa)
	if gpa < 0 || a+uint64(len(p)) > r.top {
		return 0, fmt.Errorf("guest-physical %#x+%d outside RAM", a, len(p))
	}
	for i := range p {
		pg := r.pages[(a+uint64(i))&^4095]
		if pg == nil {
			p[i] = 0
			continue
		}
		p[i] = pg[(a+uint64(i))&4095]
	}
	return len(p), nil
}

func (r *fakeRAM) write(gpa uint64, b []byte) {
	for i, c := range b {
		a := gpa + uint64(i)
		pg := r.pages[a&^4095]
		if pg == nil {
			pg = make([]byte, 4096)
			r.pages[a&^4095] = pg
		}
		pg[a&4095] = c
	}
}

func (r *fakeRAM) write64(gpa, v uint64) { r.write(gpa, binary.LittleEndian.AppendUint64(nil, v)) }
func (r *fakeRAM) write32(gpa uint64, v uint32) {
	r.write(gpa, binary.LittleEndian.AppendUint32(nil, v))
}

const pageOffset = 0xffff888000000000

// fakeKernel is a Kernel with made-up symbols and a made-up struct rq.
func fakeKernel() *Kernel {
	return &Kernel{
		Path: "fake-vmlinux",
		syms: map[string]uint64{
			"linux_banner":     0xffffffff81c00000,
			"page_offset_base": 0xffffffff81f00000,
			"init_top_pgt":     0xffffffff82400000,
			"nr_cpu_ids":       0xffffffff82500000,
			"__per_cpu_offset": 0xffffffff81f20000,
			"runqueues":        0x2f380,
		},
		banner: []byte("Linux version 6.12.117 (fake) #1 SMP"),
		rq: rqLayout{size: 4096, nrRunning: field{4, 4}, clock: field{0x100, 8}, hasScx: true,
			scxRunning: field{0x200, 4}, scxDSQ: field{0x280, 4}},
	}
}

// guest writes the kernel image of k into ram at physBase.
func guest(t *testing.T, k *Kernel, ram *fakeRAM, physBase uint64, cpus int) {
	t.Helper()
	img := func(sym string) uint64 { return k.syms[sym] - startKernelMap + physBase }
	ram.write(img("linux_banner"), k.banner)
	ram.write64(img("page_offset_base"), pageOffset)
	ram.write32(img("nr_cpu_ids"), uint32(cpus))
	for c := 0; c < cpus; c++ {
		// Per-CPU areas in the direct map, 1 MiB apart from 64 MiB up.
		ram.write64(img("__per_cpu_offset")+uint64(8*c), pageOffset+64<<20+uint64(c)<<20)
	}
}

// rqPhys is where CPU c's struct rq lies in guest.
func rqPhys(k *Kernel, c int) uint64 { return 64<<20 + uint64(c)<<20 + k.syms["runqueues"] }

func TestTranslatorAndSampler(t *testing.T) {
	for _, physBase := range []uint64{0, 6 << 20} {
		t.Run(fmt.Sprintf("phys_base=%#x", physBase), func(t *testing.T) {
			k := fakeKernel()
			ram := newRAM(512 << 20)
			guest(t, k, ram, physBase, 2)
			for c, v := range [][4]uint64{{3, 1000, 2, 1}, {1, 2000, 0, 0}} {
				base := rqPhys(k, c)
				ram.write32(base+4, uint32(v[0]))
				ram.write64(base+0x100, v[1])
				ram.write32(base+0x200, uint32(v[2]))
				ram.write32(base+0x280, uint32(v[3]))
			}
			tr, err := NewTranslator(k, ram, ram.top)
			if err != nil {
				t.Fatal(err)
			}
			if tr.physBase != physBase || tr.pageOffset != pageOffset {
				t.Fatalf("phys_base %#x, page_offset_base %#x", tr.physBase, tr.pageOffset)
			}
			s, err := NewSampler(k, tr, 2)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]verify.CPUSample, 2)
			if err := s.Sample(out); err != nil {
				t.Fatal(err)
			}
			want := []verify.CPUSample{{NrRunning: 3, Clock: 1000, ScxNrRunning: 2, LocalDSQ: 1}, {NrRunning: 1, Clock: 2000}}
			for c := range want {
				if out[c] != want[c] {
					t.Errorf("CPU %d: %+v, want %+v", c, out[c], want[c])
				}
			}
			// More CPUs than the guest has ids for: not ready yet.
			if _, err := NewSampler(k, tr, 4); !errors.Is(err, ErrNotReady) {
				t.Errorf("4 CPUs of a 2-CPU guest: %v", err)
			}
		})
	}
	// A guest without the kernel's banner anywhere: not ready (or another
	// kernel).
	if _, err := NewTranslator(fakeKernel(), newRAM(64<<20), 64<<20); !errors.Is(err, ErrNotReady) {
		t.Errorf("no banner: %v", err)
	}
}

// The page walk: 4 and 5 levels, 4 KiB, 2 MiB and 1 GiB pages, and an
// unmapped address.
func TestWalk(t *testing.T) {
	for _, l5 := range []bool{false, true} {
		t.Run(fmt.Sprintf("l5=%v", l5), func(t *testing.T) {
			ram := newRAM(1 << 32)
			tr := &Translator{mem: ram, ramTop: ram.top, pageOffset: pageOffset, l5: l5, pgd: 0x100000}
			next := uint64(0x200000)
			alloc := func() uint64 { next += 4096; return next }
			shifts := []uint{39, 30, 21, 12}
			if l5 {
				shifts = []uint{48, 39, 30, 21, 12}
			}
			// mapTo installs va -> pa ending at the level with shift stop.
			mapTo := func(va, pa uint64, stop uint) {
				table := tr.pgd
				for _, sh := range shifts {
					idx := (va >> sh) & 511
					entry := table + idx*8
					if sh == stop {
						e := pa | ptePresent
						if stop != 12 {
							e |= ptePS
						}
						ram.write64(entry, e)
						return
					}
					var b [8]byte
					ram.ReadAt(b[:], int64(entry))
					e := binary.LittleEndian.Uint64(b[:])
					if e == 0 {
						e = alloc() | ptePresent
						ram.write64(entry, e)
					}
					table = e & pteAddr
				}
			}
			const vmalloc = 0xffffc90000000000
			mapTo(vmalloc+0x5000, 0x7654000, 12)
			mapTo(vmalloc+0x40000000, 0x40000000, 21) // 2 MiB page
			mapTo(vmalloc+0x80000000, 0x80000000, 30) // 1 GiB page
			for _, tc := range []struct{ va, want uint64 }{
				{vmalloc + 0x5123, 0x7654123},
				{vmalloc + 0x40000000 + 0x12345, 0x40012345},
				{vmalloc + 0x80000000 + 0x3456789, 0x83456789},
				{pageOffset + 0x1234, 0x1234},   // direct map
				{0xffffffff81000010, 0x1000010}, // kernel image, phys_base 0
			} {
				got, err := tr.Phys(tc.va)
				if err != nil || got != tc.want {
					t.Errorf("Phys(%#x) = %#x, %v; want %#x", tc.va, got, err, tc.want)
				}
			}
			if _, err := tr.Phys(vmalloc + 0x100000000000); err == nil {
				t.Error("an unmapped address translated")
			}
		})
	}
}

// The real vmlinux of the cached kernel: the monitor's symbols and struct
// rq offsets, checked against pahole's reading of the same BTF.
func TestLoadKernel(t *testing.T) {
	vmlinux := cachedVmlinux(t)
	k, err := LoadKernel(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	if !k.HasScx() {
		t.Fatal("the cached kernel has no sched_ext in struct rq")
	}
	if !strings.HasPrefix(string(k.banner), "Linux version ") {
		t.Errorf("banner %q", k.banner)
	}
	if k.rq.nrRunning.size != 4 || k.rq.clock.size != 8 || k.rq.scxRunning.size != 4 || k.rq.scxDSQ.size != 4 {
		t.Errorf("field sizes: %+v", k.rq)
	}
	pahole, err := exec.LookPath("pahole")
	if err != nil {
		t.Skip("pahole (dwarves) not installed: offsets not cross-checked")
	}
	offsets := func(strct string) map[string]uint32 {
		out, err := exec.Command(pahole, "-C", strct, vmlinux).Output()
		if err != nil {
			t.Fatalf("pahole -C %s: %v", strct, err)
		}
		return paholeOffsets(string(out))
	}
	rq, scxRq, dsq := offsets("rq"), offsets("scx_rq"), offsets("scx_dispatch_q")
	for name, tc := range map[string]struct {
		f    field
		want uint32
		ok   bool
	}{
		"rq.nr_running":       {k.rq.nrRunning, rq["nr_running"], rq["nr_running"] > 0},
		"rq.clock":            {k.rq.clock, rq["clock"], rq["clock"] > 0},
		"rq.scx.nr_running":   {k.rq.scxRunning, rq["scx"] + scxRq["nr_running"], rq["scx"] > 0 && scxRq["nr_running"] > 0},
		"rq.scx.local_dsq.nr": {k.rq.scxDSQ, rq["scx"] + scxRq["local_dsq"] + dsq["nr"], rq["scx"] > 0 && dsq["nr"] > 0},
	} {
		if !tc.ok || tc.f.off != tc.want {
			t.Errorf("%s at %d, pahole says %d (found %v)", name, tc.f.off, tc.want, tc.ok)
		}
	}
	if _, err := LoadKernel(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNoVmlinux) {
		t.Errorf("missing vmlinux: %v", err)
	}
}

var paholeRE = regexp.MustCompile(`^\s+[^/]*?\b(\w+)(\[[^\]]*\])?( __attribute__\(\(.*\)\))?;\s+/\*\s+(\d+)\s+`)

// paholeOffsets reads "type name; /* offset size */" lines of struct rq.
func paholeOffsets(s string) map[string]uint32 {
	out := map[string]uint32{}
	sc := bufio.NewScanner(strings.NewReader(s))
	depth := 0
	for sc.Scan() {
		line := sc.Text()
		if depth == 1 {
			if m := paholeRE.FindStringSubmatch(line); m != nil {
				if v, err := strconv.Atoi(m[4]); err == nil {
					if _, seen := out[m[1]]; !seen {
						out[m[1]] = uint32(v)
					}
				}
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	return out
}

func cachedVmlinux(t *testing.T) string {
	t.Helper()
	root := os.Getenv("KTSTR_CACHE_DIR")
	if root == "" {
		home, _ := os.UserHomeDir()
		root = filepath.Join(home, ".cache", "ktstr")
	}
	m, _ := filepath.Glob(filepath.Join(root, "kernels", "*", "vmlinux"))
	if len(m) == 0 {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("no cached vmlinux (CI=true: the kernel must be built)")
		}
		t.Skip("no cached vmlinux: build a kernel with `ktstr kernel build`")
	}
	return m[len(m)-1]
}

// Run waits for start, samples every interval until stop, tags samples
// with the confinement the test declared, and calls OnViolation once.
func TestMonitorRun(t *testing.T) {
	k := fakeKernel()
	ram := newRAM(512 << 20)
	guest(t, k, ram, 0, 2)
	for c := 0; c < 2; c++ {
		ram.write32(rqPhys(k, c)+4, 1)
	}
	var vcpu atomic.Int64
	violations := 0
	confined := atomic.Bool{}
	confined.Store(true)
	m := New(Config{
		Kernel: k, Mem: ram, RAMTop: ram.top, CPUs: 2, Interval: 10 * time.Millisecond,
		VCPUTime:    func(cpu int) (time.Duration, error) { return time.Duration(vcpu.Add(1)), nil },
		SchedExt:    true,
		Violated:    func(s verify.MonitorSeries) bool { return len(s.Samples) >= 3 },
		OnViolation: func(time.Duration) { violations++ },
		Confined:    confined.Load,
	})
	start, stop := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() { done <- m.Run(t.Context(), start, stop) }()
	time.Sleep(30 * time.Millisecond)
	if n := len(m.Series().Samples); n != 0 {
		t.Fatalf("%d samples before start", n)
	}
	close(start)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := m.Series()
	if len(s.Samples) < 5 || s.Discarded != 0 || !s.HasVCPUTime || !s.HasScx || !s.SchedExt {
		t.Fatalf("series: %d samples, %+v", len(s.Samples), s)
	}
	if !s.Samples[0].Confined || s.Samples[0].CPUs[1].NrRunning != 1 || s.Samples[1].CPUs[0].VCPUTime == 0 {
		t.Errorf("first samples: %+v", s.Samples[:2])
	}
	if violations != 1 {
		t.Errorf("OnViolation called %d times, want once", violations)
	}
	if cpu, n := m.Cost(); n != len(s.Samples) || cpu < 0 {
		t.Errorf("Cost = %s, %d", cpu, n)
	}
}
