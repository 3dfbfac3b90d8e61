package guest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ktstr-go/ktstr/verdict"
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

func TestExitOf(t *testing.T) {
	names := []string{"fixture", "scx_fixture"}
	for _, tc := range []struct {
		name string
		kmsg []string
		want *verdict.Exit
	}{
		{"none", nil, nil},
		{"enabled only", []string{`sched_ext: BPF scheduler "fixture" enabled`}, nil},
		{"error", []string{`sched_ext: BPF scheduler "fixture" disabled (runtime error)`, `sched_ext: fixture: fixture: error after 1000 dispatches`},
			&verdict.Exit{Reason: "runtime error", Message: "fixture: error after 1000 dispatches"}},
		{"stall", []string{`sched_ext: BPF scheduler "fixture" disabled (runnable task stall)`, `sched_ext: fixture: stress[12] failed to run for 5.100s`},
			&verdict.Exit{Reason: "runnable task stall", Message: "stress[12] failed to run for 5.100s"}},
		{"unregistered", []string{`sched_ext: BPF scheduler "fixture" disabled (unregistered from user space)`}, &verdict.Exit{Reason: "unregistered from user space"}},
		{"another scheduler", []string{`sched_ext: BPF scheduler "simple" disabled (runtime error)`, `sched_ext: simple: boom`}, nil},
		{"the last disable counts", []string{
			`sched_ext: BPF scheduler "fixture" disabled (unregistered from user space)`,
			`sched_ext: BPF scheduler "fixture" enabled`,
			`sched_ext: BPF scheduler "fixture" disabled (scx_bpf_error)`, `sched_ext: fixture: bad dsq`,
		}, &verdict.Exit{Reason: "scx_bpf_error", Message: "bad dsq"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, exitOf(tc.kmsg, names)); diff != "" {
				t.Errorf("exitOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEjected(t *testing.T) {
	for reason, want := range map[string]bool{
		"unregistered from user space": false, "unregistered from BPF": false, "disabled by sysrq-S": false,
		"runtime error": true, "scx_bpf_error": true, "runnable task stall": true, "<UNKNOWN>": true,
	} {
		if got := ejected(&verdict.Exit{Reason: reason}); got != want {
			t.Errorf("ejected(%q) = %v, want %v", reason, got, want)
		}
	}
}

func TestEnabledAfterOverride(t *testing.T) {
	names := []string{"simple"}
	override := `sched_ext: watchdog timeout 4000ms (ktstr override; ops.timeout_ms=0)`
	enabled := `sched_ext: BPF scheduler "simple" enabled`
	for _, tc := range []struct {
		name             string
		kmsg             []string
		ms               uint64
		override, seenOK bool
	}{
		{"nothing yet", nil, 0, false, false},
		{"override before enable", []string{override, enabled}, 4000, true, true},
		{"override only", []string{override}, 0, false, false},
		{"enable without override", []string{enabled}, 0, false, true},
		{"override of another scheduler", []string{override, `sched_ext: BPF scheduler "qmap" enabled`, enabled}, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, ov, ok := enabledAfterOverride(tc.kmsg, names)
			if ms != tc.ms || ov != tc.override || ok != tc.seenOK {
				t.Errorf("enabledAfterOverride = %d, %v, %v; want %d, %v, %v", ms, ov, ok, tc.ms, tc.override, tc.seenOK)
			}
		})
	}
}

func TestKernelRecord(t *testing.T) {
	for _, tc := range []struct {
		rec  string
		want string
		ok   bool
	}{
		{"6,1234,5678,-;sched_ext: BPF scheduler \"x\" enabled\n", `sched_ext: BPF scheduler "x" enabled`, true},
		{"3,99,1,-;sched_ext: x: boom\n SUBSYSTEM=foo\n", "sched_ext: x: boom", true},
		// Written by user space to /dev/kmsg: facility user (1), prio 8-15.
		{"14,100,2,-;sched_ext: BPF scheduler \"x\" disabled (unregistered from user space)\n", "", false},
		{"garbage", "", false},
		{"x,1,2,-;msg", "", false},
	} {
		got, ok := kernelRecord([]byte(tc.rec))
		if got != tc.want || ok != tc.ok {
			t.Errorf("kernelRecord(%q) = %q, %v; want %q, %v", tc.rec, got, ok, tc.want, tc.ok)
		}
	}
}

func TestArmWatchdog(t *testing.T) {
	dir := t.TempDir()
	param := filepath.Join(dir, "watchdog_override_ms")
	// A kernel without the parameter: nothing written, a note says so.
	d, note, err := armWatchdog(param, 4*time.Second)
	if err != nil || d != 0 || !strings.Contains(note, "unsupported on this kernel") {
		t.Fatalf("without the parameter: %v, %q, %v", d, note, err)
	}
	if err := os.WriteFile(param, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, note, err = armWatchdog(param, 4500*time.Millisecond)
	if err != nil || d != 4500*time.Millisecond || note != "" {
		t.Fatalf("with the parameter: %v, %q, %v", d, note, err)
	}
	if b, _ := os.ReadFile(param); string(b) != "4500" {
		t.Errorf("parameter holds %q, want 4500", b)
	}
	if d, _, err := armWatchdog(param, 0); d != 0 || err != nil {
		t.Errorf("no watchdog asked: %v, %v", d, err)
	}
}
