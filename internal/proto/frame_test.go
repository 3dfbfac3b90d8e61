package proto

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ktstr-go/ktstr/verdict"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Send(TypeLog, Log{Msg: "hello\nworld"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Send(TypeDone, Done{Failure: verdict.New(verdict.SchedulerDied, "x"), Uptime: time.Second}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines, want one per frame:\n%s", n, buf.String())
	}
	// Noise around frames is skipped.
	r := NewReader(io.MultiReader(strings.NewReader("garbage\n"), &buf))
	f, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	var l Log
	if err := f.Decode(&l); err != nil || f.Type != TypeLog || l.Msg != "hello\nworld" {
		t.Fatalf("frame %+v, log %+v, err %v", f, l, err)
	}
	f, err = r.Next()
	if err != nil {
		t.Fatal(err)
	}
	var d Done
	if err := f.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Done{Failure: verdict.New(verdict.SchedulerDied, "x"), Uptime: time.Second}, d); diff != "" {
		t.Error(diff)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
}

func TestCorrupt(t *testing.T) {
	var buf bytes.Buffer
	if err := NewWriter(&buf).Send(TypeLog, Log{Msg: "abc"}); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	for name, bad := range map[string]string{
		"flipped byte": strings.Replace(good, "abc", "abd", 1),
		"truncated":    good[:len(good)-5] + "\n",
		"bad header":   "@ktstr1 nonsense\n",
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(strings.NewReader(bad + good))
			if _, err := r.Next(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("want ErrCorrupt, got %v", err)
			}
			// Reading goes on after a damaged frame.
			f, err := r.Next()
			if err != nil || f.Type != TypeLog {
				t.Fatalf("next frame: %+v, %v", f, err)
			}
		})
	}
}

// A frame line longer than MaxFrame is reported as corrupt without being
// held in memory, and the frames after it are still read. Before, a line
// without a newline was buffered without limit.
func TestOversizedFrame(t *testing.T) {
	read := func(size int64) (uint64, error, Envelope, error) {
		var good bytes.Buffer
		if err := NewWriter(&good).Send(TypeLog, Log{Msg: "after"}); err != nil {
			t.Fatal(err)
		}
		huge := io.MultiReader(strings.NewReader(framePrefix+"999999999 00000000 "), io.LimitReader(filler{}, size),
			strings.NewReader("\n"), &good)
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		r := NewReader(huge)
		_, err := r.Next()
		runtime.ReadMemStats(&ms1)
		f, err2 := r.Next()
		return ms1.TotalAlloc - ms0.TotalAlloc, err, f, err2
	}
	small, err, f, err2 := read(2 * MaxFrame)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("oversized frame: err = %v, want ErrCorrupt for its length", err)
	}
	var l Log
	if err2 != nil || f.Decode(&l) != nil || l.Msg != "after" {
		t.Fatalf("frame after the oversized one: %+v, %v", f, err2)
	}
	big, err, _, _ := read(16 * MaxFrame)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("oversized frame: err = %v", err)
	}
	// Memory does not follow the line's length.
	if big > small+1<<20 {
		t.Errorf("a %d MiB line allocated %d MiB, a %d MiB one %d MiB: memory grows with the line", 2*MaxFrame>>20, small>>20, 16*MaxFrame>>20, big>>20)
	}
}

// The largest allowed frame still goes through.
func TestLargeFrame(t *testing.T) {
	var buf bytes.Buffer
	msg := strings.Repeat("m", MaxFrame-100)
	if err := NewWriter(&buf).Send(TypeLog, Log{Msg: msg}); err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(&buf).Next()
	var l Log
	if err != nil || f.Decode(&l) != nil || l.Msg != msg {
		t.Fatalf("large frame: %v", err)
	}
}

func TestFrameSenders(t *testing.T) {
	for _, typ := range []string{TypeStarted, TypeLog, TypeResult} {
		if !FromTestProcess(typ) || !KnownType(typ) {
			t.Errorf("%s: want a known type the test process may send", typ)
		}
	}
	for _, typ := range []string{TypeHello, TypeDone, TypeSched, TypeTopo} {
		if FromTestProcess(typ) || !KnownType(typ) {
			t.Errorf("%s: want a known type only init may send", typ)
		}
	}
	if KnownType("bogus") || FromTestProcess("bogus") {
		t.Error("bogus type accepted")
	}
}

type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}
