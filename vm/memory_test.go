package vm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mib = 1 << 20

// The q35 layout (QEMU 7.2 hw/i386/pc_q35.c): RAM below 4 GiB up to lowmem
// (2 GiB from 2816 MiB of RAM on, else 2816 MiB), the rest from 4 GiB, the
// nodes' backends one after another. TestQEMUMemoryLayout checks the same
// cases against QEMU itself.
func TestQ35Layout(t *testing.T) {
	for _, tc := range layoutCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q35Layout(tc.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
		})
	}
	// Past 978 GiB QEMU would move the high RAM to 1 TiB for an AMD vCPU.
	if _, err := q35Layout([]uint64{978 << 30}); err != nil {
		t.Errorf("978 GiB: %v", err)
	}
	if _, err := q35Layout([]uint64{978<<30 + mib}); err == nil || !strings.Contains(err.Error(), "at most 1001472 MB") {
		t.Errorf("978 GiB + 1 MiB: error %v, want one naming the limit", err)
	}
	for _, bad := range [][]uint64{nil, {0}, {mib, 1 << 60}} {
		if _, err := q35Layout(bad); err == nil {
			t.Errorf("q35Layout(%v) accepted", bad)
		}
	}
}

var layoutCases = []struct {
	name  string
	nodes []uint64
	want  []MemRange
}{
	{"512M", []uint64{512 * mib}, []MemRange{{0, 512 * mib, 0, 0}}},
	{"2815M", []uint64{2815 * mib}, []MemRange{{0, 2815 * mib, 0, 0}}},
	{"2816M", []uint64{2816 * mib}, []MemRange{{0, 2048 * mib, 0, 0}, {4 << 30, 768 * mib, 0, 2048 * mib}}},
	{"3072M", []uint64{3072 * mib}, []MemRange{{0, 2048 * mib, 0, 0}, {4 << 30, 1024 * mib, 0, 2048 * mib}}},
	{"2x2048M", []uint64{2048 * mib, 2048 * mib}, []MemRange{{0, 2048 * mib, 0, 0}, {4 << 30, 2048 * mib, 1, 0}}},
	{"2x1536M", []uint64{1536 * mib, 1536 * mib}, []MemRange{
		{0, 1536 * mib, 0, 0}, {1536 * mib, 512 * mib, 1, 0}, {4 << 30, 1024 * mib, 1, 512 * mib}}},
	{"2x1024M+1", []uint64{1024 * mib, 1025 * mib}, []MemRange{{0, 1024 * mib, 0, 0}, {1024 * mib, 1025 * mib, 1, 0}}},
	{"1366+1366+1368M", []uint64{1366 * mib, 1366 * mib, 1368 * mib}, []MemRange{
		{0, 1366 * mib, 0, 0}, {1366 * mib, 682 * mib, 1, 0},
		{4 << 30, 684 * mib, 1, 682 * mib}, {4<<30 + 684*mib, 1368 * mib, 2, 0}}},
	{"4x2048M", []uint64{2048 * mib, 2048 * mib, 2048 * mib, 2048 * mib}, []MemRange{
		{0, 2048 * mib, 0, 0}, {4 << 30, 2048 * mib, 1, 0}, {6 << 30, 2048 * mib, 2, 0}, {8 << 30, 2048 * mib, 3, 0}}},
}

// memoryWithData returns a Memory of the given node sizes and writes data
// at (node, offset) through the memfds, as the guest would.
func memoryWithData(t *testing.T, nodes []uint64, writes map[[2]int64][]byte) *Memory {
	t.Helper()
	m, err := newMemory(nodes, false)
	if err != nil {
		t.Fatal(err)
	}
	for at, b := range writes {
		if _, err := m.files[at[0]].WriteAt(b, at[1]); err != nil {
			t.Fatal(err)
		}
	}
	m.closeFiles()
	t.Cleanup(m.release)
	return m
}

func TestMemoryReadAt(t *testing.T) {
	// 2 x 1536 MiB: node 0 at [0, 1.5G), node 1 at [1.5G, 2G) and
	// [4G, 5G).
	m := memoryWithData(t, []uint64{1536 * mib, 1536 * mib}, map[[2]int64][]byte{
		{0, 0x1000}:          []byte("node0 page 1"),
		{0, 1536*mib - 4}:    []byte("END0"),
		{1, 0}:               []byte("BEG1"),
		{1, 512*mib - 4}:     []byte("low1"),
		{1, 512 * mib}:       []byte("high"),
		{1, 1536*mib - 4}:    []byte("LAST"),
		{1, 1024*mib + 4096}: []byte("above 4G"),
	})
	read := func(gpa int64, n int) ([]byte, error) {
		p := make([]byte, n)
		got, err := m.ReadAt(p, gpa)
		if err == nil && got != n {
			t.Errorf("ReadAt(%d bytes at %#x) = %d, nil", n, gpa, got)
		}
		if err != nil && got != 0 {
			t.Errorf("ReadAt(%d bytes at %#x) = %d, %v: a failed read reads nothing", n, gpa, got, err)
		}
		return p, err
	}
	for _, tc := range []struct {
		gpa  int64
		want string
	}{
		{0x1000, "node0 page 1"},
		{1536*mib - 4, "END0BEG1"}, // across the node boundary
		{2048*mib - 4, "low1"},
		{4 << 30, "high"},              // node 1 goes on at 4 GiB
		{4<<30 + 1024*mib - 4, "LAST"}, // the last bytes of RAM
		{4<<30 + 512*mib + 4096, "above 4G"},
		{0, "\x00\x00\x00\x00"},
	} {
		got, err := read(tc.gpa, len(tc.want))
		if err != nil || string(got) != tc.want {
			t.Errorf("ReadAt at %#x = %q, %v; want %q", tc.gpa, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		gpa  int64
		n    int
		want string
	}{
		{2048*mib - 4, 8, "crosses a hole at 0x80000000"}, // the 4 GiB jump is not contiguous
		{2048 * mib, 1, "not guest RAM"},                  // in the PCI hole
		{4<<30 - 1, 2, "not guest RAM"},
		{5 << 30, 1, "not guest RAM"}, // past the end
		{5<<30 - 2, 4, "crosses a hole at 0x140000000"},
		{-1, 1, "not guest RAM"},
		{1<<62 - 1, 2, "not guest RAM"},
	} {
		_, err := read(tc.gpa, tc.n)
		if !errors.Is(err, ErrNotRAM) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadAt(%d bytes at %#x) error = %v, want ErrNotRAM and %q", tc.n, tc.gpa, err, tc.want)
		}
	}
	if n, err := m.ReadAt(nil, 0x1000); n != 0 || err != nil {
		t.Errorf("empty read = %d, %v", n, err)
	}
	if diff := cmp.Diff(layoutCases[5].want, m.Ranges()); diff != "" {
		t.Errorf("Ranges (-want +got):\n%s", diff)
	}
	if m.Size() != 3072*mib {
		t.Errorf("Size = %d", m.Size())
	}
	m.release()
	if _, err := m.ReadAt(make([]byte, 4), 0x1000); !errors.Is(err, ErrMemoryReleased) {
		t.Errorf("ReadAt after release: %v, want ErrMemoryReleased", err)
	}
	m.release() // twice is harmless
}

// The memfds are sealed against shrinking: no read of the mapping can
// fault.
func TestMemorySealed(t *testing.T) {
	m, err := newMemory([]uint64{64 * mib}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	defer m.closeFiles()
	if err := m.files[0].Truncate(mib); err == nil {
		t.Fatal("a guest memfd could be shrunk")
	}
	p := make([]byte, 8)
	if _, err := m.ReadAt(p, 64*mib-8); err != nil || !bytes.Equal(p, make([]byte, 8)) {
		t.Fatalf("ReadAt = %q, %v", p, err)
	}
}
