package vm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/initramfs"
	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/topology"
)

// The tests in this file run the real QEMU under TCG: they skip when QEMU,
// a cached guest kernel or gcc is missing, and fail instead under CI=true.

// realQEMU returns QEMU and the guest kernel (a bzImage of the ktstr cache,
// or $KTSTR_KERNEL when it names a file).
func realQEMU(t *testing.T) (qemu, kernel string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("real QEMU test under CI: "+format, args...)
		}
		t.Skipf("skipping the real QEMU test: "+format, args...)
	}
	qemu, err := QEMUBinary(os.Getenv("KTSTR_QEMU"))
	if err != nil {
		missing("%v", err)
	}
	if k := os.Getenv("KTSTR_KERNEL"); k != "" {
		if st, err := os.Stat(k); err == nil && st.Mode().IsRegular() {
			return qemu, k
		}
	}
	dir, err := cachedir.Sub("kernels", false)
	if err != nil {
		missing("%v", err)
	}
	images, _ := filepath.Glob(filepath.Join(dir, "*", "bzImage"))
	// The newest image whose config has serial SysRq (every ktstr kernel).
	sort.Slice(images, func(i, j int) bool { return modTime(images[i]).After(modTime(images[j])) })
	for _, img := range images {
		cfg, err := os.ReadFile(filepath.Join(filepath.Dir(img), "config"))
		if err == nil && bytes.Contains(cfg, []byte("\nCONFIG_MAGIC_SYSRQ_SERIAL=y\n")) {
			return qemu, img
		}
	}
	missing("no cached guest kernel under %s (build one with `ktstr kernel build`, or set KTSTR_KERNEL to a bzImage)", dir)
	return "", ""
}

func modTime(p string) time.Time {
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// idleInitC is the guest's whole userspace: it says it is up, then keeps
// one vCPU half busy, so that vCPU threads use host CPU time.
const idleInitC = `#include <time.h>
#include <unistd.h>
int main(void) {
	write(1, "ktstr-vm-test-ready\n", 20);
	for (;;) {
		struct timespec t, now, nap = {0, 50000000};
		clock_gettime(CLOCK_MONOTONIC, &t);
		do clock_gettime(CLOCK_MONOTONIC, &now);
		while ((now.tv_sec - t.tv_sec) * 1000000000L + now.tv_nsec - t.tv_nsec < 50000000L);
		nanosleep(&nap, 0);
	}
}
`

// idleInitramfs compiles idleInitC statically and returns a newc archive
// holding it as /init.
func idleInitramfs(t *testing.T) []byte {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gcc is needed to build the guest's init")
		}
		t.Skip("skipping the real QEMU test: gcc is needed to build the guest's init")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "init.c"), filepath.Join(dir, "init")
	if err := os.WriteFile(src, []byte(idleInitC), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-static", "-Os", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build init: %v\n%s", err, out)
	}
	b := initramfs.New()
	if err := b.AddFile("/init", bin); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pmemsave returns QEMU's own view of n bytes of guest-physical memory at
// gpa (QMP pmemsave to a file of the test's temporary directory).
func pmemsave(t *testing.T, v *VM, gpa uint64, n int) []byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pmem")
	args := map[string]any{"val": gpa, "size": n, "filename": f}
	if err := v.qmp.execute(t.Context(), "pmemsave", args, nil); err != nil {
		t.Fatalf("pmemsave %d bytes at %#x: %v", n, gpa, err)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(f)
	return b
}

// quit asks QEMU to exit and reaps it.
func quit(t *testing.T, v *VM) Result {
	t.Helper()
	if err := v.qmp.execute(t.Context(), "quit", nil, nil); err != nil && !errors.Is(err, ErrQMPClosed) {
		t.Errorf("quit: %v", err)
	}
	res, err := v.Wait()
	if err != nil {
		t.Errorf("Wait: %v", err)
	}
	if res.ExitCode != 0 || res.Killed != "" || len(res.Stderr) > 0 {
		t.Errorf("QEMU exit %d (killed: %q), stderr:\n%s", res.ExitCode, res.Killed, strings.Join(res.Stderr, "\n"))
	}
	return res
}

// The layout Memory assumes is the one QEMU builds: with QEMU stopped
// before the guest's first instruction (-S), the test writes a marker into
// the first and last bytes of every range through QEMU's own descriptor of
// the node's memory file, and QEMU's view of guest-physical memory
// (pmemsave) and Memory.ReadAt must both find it at the range's address.
// QEMU's below-4g-mem-size and above-4g-mem-size must match too.
func TestQEMUMemoryLayout(t *testing.T) {
	qemu, kernel := realQEMU(t)
	for _, tc := range []struct {
		nodes, mb int
	}{
		{1, 512}, {1, 2815}, {1, 2816}, {1, 3072}, {2, 4096}, {2, 3072}, {3, 4100}, {4, 8192},
	} {
		t.Run(fmt.Sprintf("%dx%dM", tc.nodes, tc.mb), func(t *testing.T) {
			cfg := Config{QEMU: qemu, Kernel: kernel, InitrdData: [][]byte{[]byte("unused")},
				Topology: topology.New(tc.nodes, tc.nodes, 1, 1), MemoryMB: tc.mb, Accel: TCG,
				Timeout: time.Minute, ExtraArgs: []string{"-S"}}
			v, err := Start(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Kill("test over")
			files := map[int]*os.File{}
			for n := 0; n < tc.nodes; n++ {
				// QEMU's descriptor of node n's memfd, opened read-write.
				f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%d", v.Pid(), cfg.memoryFD(n)), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				files[n] = f
			}
			marker := func(node int, off uint64) []byte {
				b := make([]byte, 16)
				binary.LittleEndian.PutUint64(b, uint64(0x6b7473747200|node))
				binary.LittleEndian.PutUint64(b[8:], off)
				return b
			}
			var below, above uint64
			for _, r := range v.Memory().Ranges() {
				if r.GPA < fourGiB {
					below += r.Size
				} else {
					above += r.Size
				}
				for _, at := range []uint64{0, r.Size - 16} {
					m := marker(r.Node, r.Offset+at)
					if _, err := files[r.Node].WriteAt(m, int64(r.Offset+at)); err != nil {
						t.Fatal(err)
					}
					if got := pmemsave(t, v, r.GPA+at, 16); !bytes.Equal(got, m) {
						t.Errorf("range %v: QEMU has %x at %#x, want node %d's offset %#x", r, got, r.GPA+at, r.Node, r.Offset+at)
					}
					got := make([]byte, 16)
					if _, err := v.Memory().ReadAt(got, int64(r.GPA+at)); err != nil || !bytes.Equal(got, m) {
						t.Errorf("range %v: ReadAt(%#x) = %x, %v", r, r.GPA+at, got, err)
					}
				}
			}
			for prop, want := range map[string]uint64{"below-4g-mem-size": below, "above-4g-mem-size": above} {
				var got uint64
				if err := v.qmp.execute(t.Context(), "qom-get", map[string]string{"path": "/machine/q35", "property": prop}, &got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("QEMU's %s is %#x, Memory's is %#x", prop, got, want)
				}
			}
			quit(t, v)
		})
	}
}

// console collects the guest's console lines and waits for one.
type console struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func newConsole() *console { return &console{added: make(chan struct{}, 1)} }

func (c *console) line(s string) {
	c.mu.Lock()
	c.lines = append(c.lines, s)
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
}

func (c *console) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// waitFor waits for a line containing s, among the lines from index from
// on, and returns the index after it.
func (c *console) waitFor(t *testing.T, s string, from int, timeout time.Duration) int {
	t.Helper()
	deadline := time.After(timeout)
	for {
		lines := c.all()
		for i := from; i < len(lines); i++ {
			if strings.Contains(lines[i], s) {
				return i + 1
			}
		}
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("no console line with %q within %s; console:\n%s", s, timeout, strings.Join(lines, "\n"))
		}
	}
}

var (
	e820RE = regexp.MustCompile(`BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable`)
	sratRE = regexp.MustCompile(`ACPI: SRAT: Node (\d+) PXM \d+ \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]`)
)

// A booted guest with two NUMA nodes and RAM above 4 GiB: the host's view
// of its memory is QEMU's, QMP names a thread per vCPU, SysRq reaches the
// kernel, and a task lives exactly as long as QEMU.
func TestQEMUGuest(t *testing.T) {
	qemu, kernel := realQEMU(t)
	initrd := idleInitramfs(t)
	con := newConsole()
	type taskEnd struct {
		cause error
		at    time.Time
	}
	ended := make(chan taskEnd, 1)
	cfg := Config{QEMU: qemu, Kernel: kernel, InitrdData: [][]byte{initrd},
		Topology: topology.New(2, 2, 1, 1), MemoryMB: 3072, Accel: TCG, Timeout: 3 * time.Minute,
		Console: con.line, ConsoleTailLines: 2000,
		Tasks: []func(context.Context, *VM) error{func(ctx context.Context, v *VM) error {
			<-ctx.Done()
			time.Sleep(300 * time.Millisecond) // slower than QEMU's exit: Wait must wait
			ended <- taskEnd{context.Cause(ctx), time.Now()}
			return nil
		}},
	}
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Kill("test over")
	at := con.waitFor(t, "ktstr-vm-test-ready", 0, 2*time.Minute)

	t.Run("memory", func(t *testing.T) {
		// The guest's firmware map lies within Memory's ranges.
		ranges := v.Memory().Ranges()
		// inRAM says whether [lo, hi) is RAM, of node when node >= 0.
		inRAM := func(lo, hi uint64, node int) bool {
			for _, r := range ranges {
				if lo >= r.GPA && lo < r.End() && (node < 0 || r.Node == node) {
					lo = r.End() // contiguous ranges of two nodes continue it
				}
			}
			return lo >= hi
		}
		n := 0
		for _, l := range con.all() {
			m := e820RE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			lo, _ := strconv.ParseUint(m[1], 16, 64)
			hi, _ := strconv.ParseUint(m[2], 16, 64)
			if !inRAM(lo, hi+1, -1) {
				t.Errorf("the guest's usable RAM %#x-%#x is not in %v", lo, hi, ranges)
			}
			n++
		}
		if n < 2 {
			t.Errorf("%d usable e820 ranges on the console, want at least 2 (below and above 4 GiB)", n)
		}
		// And the guest's NUMA nodes (ACPI SRAT) are the ranges' nodes.
		nodeBytes := map[int]uint64{}
		for _, l := range con.all() {
			m := sratRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			node, _ := strconv.Atoi(m[1])
			lo, _ := strconv.ParseUint(m[2], 16, 64)
			hi, _ := strconv.ParseUint(m[3], 16, 64)
			if !inRAM(lo, hi+1, node) {
				t.Errorf("the guest's node %d memory %#x-%#x is not node %d's in %v", node, lo, hi, node, ranges)
			}
			nodeBytes[node] += hi + 1 - lo
		}
		for node := 0; node < 2; node++ {
			// QEMU leaves the legacy window 0xa0000-0xfffff out of SRAT.
			if want := uint64(1536 * mib); nodeBytes[node] > want || nodeBytes[node] < want-0x60000 {
				t.Errorf("the guest's node %d has %#x bytes of memory, want %#x", node, nodeBytes[node], want)
			}
		}
		// The guest stopped, the same bytes through QEMU and Memory: the
		// kernel image, the end of node 0, a read across the node
		// boundary, the end of low RAM, the start and the end of RAM above
		// 4 GiB (where memblock's top-down allocations put kernel data).
		if err := v.qmp.execute(t.Context(), "stop", nil, nil); err != nil {
			t.Fatal(err)
		}
		defer v.qmp.execute(context.Background(), "cont", nil, nil)
		const chunk = 64 << 10
		last := ranges[len(ranges)-1].End()
		nonzero := 0
		for _, gpa := range []uint64{0x1000, 0x100000, 0x1000000, 0x1200000, 1536*mib - chunk, 1536*mib - chunk/2,
			2048*mib - chunk, fourGiB, fourGiB + 512*mib, last - 16*chunk, last - chunk} {
			want := pmemsave(t, v, gpa, chunk)
			got := make([]byte, chunk)
			if _, err := v.Memory().ReadAt(got, int64(gpa)); err != nil {
				t.Errorf("ReadAt(%#x): %v", gpa, err)
				continue
			}
			if !bytes.Equal(got, want) {
				i := 0
				for got[i] == want[i] {
					i++
				}
				t.Errorf("%d bytes at %#x: Memory differs from QEMU first at %#x (%#x, want %#x)", chunk, gpa, gpa+uint64(i), got[i], want[i])
			}
			if !bytes.Equal(got, make([]byte, chunk)) {
				nonzero++
			}
		}
		if nonzero < 4 {
			t.Errorf("only %d of the compared chunks hold anything but zeros: the comparison proves little", nonzero)
		}
	})

	t.Run("vcpus", func(t *testing.T) {
		cpus, err := v.VCPUs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(cpus) != 2 || cpus[0].Index != 0 || cpus[1].Index != 1 || cpus[0].ThreadID == cpus[1].ThreadID {
			t.Fatalf("VCPUs = %+v, want vCPUs 0 and 1 on two threads", cpus)
		}
		before := map[int]time.Duration{}
		for _, c := range cpus {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", v.Pid(), c.ThreadID)); err != nil {
				t.Errorf("vCPU %d's thread: %v", c.Index, err)
			}
			d, err := v.ThreadCPUTime(c.ThreadID)
			if err != nil {
				t.Fatal(err)
			}
			before[c.Index] = d
		}
		time.Sleep(time.Second)
		var grew time.Duration
		for _, c := range cpus {
			d, err := v.ThreadCPUTime(c.ThreadID)
			if err != nil {
				t.Fatal(err)
			}
			if d < before[c.Index] {
				t.Errorf("vCPU %d's CPU time went back from %s to %s", c.Index, before[c.Index], d)
			}
			grew += d - before[c.Index]
		}
		if grew < 50*time.Millisecond {
			t.Errorf("the vCPU threads used %s of CPU in a second of a half-busy guest", grew)
		}
		if _, err := v.ThreadCPUTime(1 << 30); err == nil {
			t.Error("ThreadCPUTime of no thread succeeded")
		}
	})

	t.Run("sysrq", func(t *testing.T) {
		if err := v.SysRq('h'); err != nil {
			t.Fatal(err)
		}
		at = con.waitFor(t, "sysrq: HELP :", at, 30*time.Second)
		t.Log(con.all()[at-1])
	})

	t.Run("exit", func(t *testing.T) {
		res := quit(t, v)
		waited := time.Now()
		select {
		case e := <-ended:
			if !errors.Is(e.cause, errExited) || e.at.After(waited) {
				t.Errorf("task ended at %s with cause %v; Wait returned at %s", e.at, e.cause, waited)
			}
		default:
			t.Error("Wait returned before the task did")
		}
		if _, err := v.Memory().ReadAt(make([]byte, 1), 0x1000); !errors.Is(err, ErrMemoryReleased) {
			t.Errorf("ReadAt after Wait: %v", err)
		}
		if len(res.Console) == 0 {
			t.Error("no console")
		}
	})
}
