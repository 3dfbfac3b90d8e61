package proto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Send(TypeLog, Log{Msg: "hello\nworld"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Send(TypeDone, Done{Failure: "x", Uptime: time.Second}); err != nil {
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
	if diff := cmp.Diff(Done{Failure: "x", Uptime: time.Second}, d); diff != "" {
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
