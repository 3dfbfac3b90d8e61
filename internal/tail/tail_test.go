package tail

import (
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
	tl.Follow(strings.NewReader("one\r\ntwo\nthree"), func(l string) { seen = append(seen, l) })
	want := []string{"one", "two", "three"}
	if diff := cmp.Diff(want, tl.Lines()); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Error(diff)
	}
}
