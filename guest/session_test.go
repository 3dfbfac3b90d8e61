package guest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTestArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		verbose bool
		want    []string
		matches []string // names the -test.run pattern must match, level by level
	}{
		{"TestFoo", false, []string{"-test.run=^TestFoo$", "-test.timeout=0", "-test.count=1"}, []string{"TestFoo"}},
		{"TestFoo/1n2l2c1t", true, []string{"-test.run=^TestFoo$/^1n2l2c1t$", "-test.timeout=0", "-test.count=1", "-test.v=true"}, []string{"TestFoo", "1n2l2c1t"}},
		{"TestA/b.c(d)", false, []string{`-test.run=^TestA$/^b\.c\(d\)$`, "-test.timeout=0", "-test.count=1"}, []string{"TestA", "b.c(d)"}},
	} {
		got := TestArgs(tc.name, tc.verbose)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("TestArgs(%q) (-want +got):\n%s", tc.name, diff)
		}
		levels := strings.Split(strings.TrimPrefix(got[0], "-test.run="), "/")
		for i, l := range levels {
			if !regexp.MustCompile(l).MatchString(tc.matches[i]) {
				t.Errorf("level %d pattern %q does not match %q", i, l, tc.matches[i])
			}
		}
	}
}

func TestLineTail(t *testing.T) {
	lt := newLineTail(2)
	for _, l := range []string{"a", "b", "c", "d", "e"} {
		lt.add(l)
	}
	if diff := cmp.Diff([]string{"d", "e"}, lt.lines()); diff != "" {
		t.Error(diff)
	}
}

func TestPanicked(t *testing.T) {
	if !panicked([]string{"x", "panic: boom", "goroutine 1"}) || !panicked([]string{"fatal error: all goroutines are asleep"}) || panicked([]string{"ok", "PASS"}) {
		t.Error("panicked misclassifies")
	}
}
