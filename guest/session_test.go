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

func TestPanicked(t *testing.T) {
	if !panicked([]string{"x", "panic: boom", "goroutine 1"}) || !panicked([]string{"fatal error: all goroutines are asleep"}) || panicked([]string{"ok", "PASS"}) {
		t.Error("panicked misclassifies")
	}
}

func TestExitReason(t *testing.T) {
	for _, tc := range []struct {
		kmsg []string
		want string
	}{
		{nil, ""},
		{[]string{`sched_ext: BPF scheduler "simple" enabled`}, ""},
		{[]string{`sched_ext: BPF scheduler "fixture" disabled (runtime error)`, `sched_ext: fixture: fixture: error after 1000 dispatches`},
			"; kernel: sched_ext disabled it (runtime error): fixture: error after 1000 dispatches"},
		{[]string{`sched_ext: BPF scheduler "fixture" disabled (runnable task stall)`, `sched_ext: fixture: kworker/0:1[12] failed to run for 5.1s`},
			"; kernel: sched_ext disabled it (runnable task stall): kworker/0:1[12] failed to run for 5.1s"},
		{[]string{`sched_ext: BPF scheduler "simple" disabled (unregistered from user space)`}, "; kernel: sched_ext disabled it (unregistered from user space)"},
	} {
		if got := exitReason(tc.kmsg); got != tc.want {
			t.Errorf("exitReason(%q) = %q, want %q", tc.kmsg, got, tc.want)
		}
	}
}
