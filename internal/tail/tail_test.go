package tail

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLines(t *testing.T) {
	tl := New(3)
	if got := tl.Lines(); len(got) != 0 {
		t.Fatalf("empty: %v", got)
	}
	tl.Add("a")
	tl.Add("b")
	if diff := cmp.Diff([]string{"a", "b"}, tl.Lines()); diff != "" {
		t.Error(diff)
	}
	for _, l := range []string{"c", "d", "e"} {
		tl.Add(l)
	}
	if diff := cmp.Diff([]string{"c", "d", "e"}, tl.Lines()); diff != "" {
		t.Error(diff)
	}
	if tl.String() != "c\nd\ne" {
		t.Errorf("String = %q", tl.String())
	}
}

func TestFollow(t *testing.T) {
	tl := New(10)
	var seen []string
	tl.Follow(strings.NewReader("one\r\ntwo\nthree"), 100, func(l string) { seen = append(seen, l) })
	want := []string{"one", "two", "three"}
	if diff := cmp.Diff(want, tl.Lines()); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Error(diff)
	}
}

// A line longer than the limit is cut and counted, and the lines after it
// are still read: a console line over the old 1 MiB scanner limit used to
// end reading, losing the kernel panic printed after it.
func TestFollowLongLine(t *testing.T) {
	tl := New(10)
	long := strings.Repeat("x", 3<<20)
	tl.Follow(strings.NewReader("before\n"+long+"\nKernel panic - not syncing: boom\n"), 1024, nil)
	got := tl.Lines()
	if len(got) != 3 || got[0] != "before" || len(got[1]) != 1024 || got[2] != "Kernel panic - not syncing: boom" {
		t.Fatalf("lines: %d, [0]=%q len([1])=%d [2]=%q", len(got), got[0], len(got[1]), got[len(got)-1])
	}
	if tl.Truncated() != 1 || tl.Added() != 3 {
		t.Errorf("Truncated = %d, Added = %d; want 1, 3", tl.Truncated(), tl.Added())
	}
}

// ReadLines holds about maxLine bytes whatever the input: a 64 MiB line
// without a newline costs no more than a short one.
func TestReadLinesMemory(t *testing.T) {
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	n, cut := 0, 0
	err := ReadLines(io.LimitReader(zeros{}, 64<<20), 4096, func(b []byte, c bool) {
		n++
		if c {
			cut++
		}
	})
	runtime.ReadMemStats(&ms1)
	if err != nil || n != 1 || cut != 1 {
		t.Fatalf("ReadLines = %v, %d line(s), %d cut; want nil, 1, 1", err, n, cut)
	}
	if grown := ms1.TotalAlloc - ms0.TotalAlloc; grown > 1<<20 {
		t.Errorf("reading a 64 MiB line allocated %d bytes, want under 1 MiB", grown)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}
