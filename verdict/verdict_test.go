package verdict

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKinds(t *testing.T) {
	seen := map[Kind]bool{}
	for _, k := range Kinds() {
		if seen[k] || !k.Valid() || k.Party() == "" {
			t.Errorf("kind %q: duplicate, invalid or without a party", k)
		}
		seen[k] = true
	}
	if Kind("fine").Valid() {
		t.Error("an unknown kind is valid")
	}
	about := map[Kind]bool{CheckFailed: true, TestError: true, TestPanic: true, SchedulerStartFailed: true,
		SchedulerNotAttached: true, SchedulerDied: true, SchedulerEjected: true}
	for _, k := range Kinds() {
		if k.AboutSystemUnderTest() != about[k] {
			t.Errorf("%s: AboutSystemUnderTest = %v", k, k.AboutSystemUnderTest())
		}
	}
}

func TestErrorsIsAs(t *testing.T) {
	f := New(SchedulerEjected, "scheduler x failed")
	err := fmt.Errorf("replica 1: %w", f)
	var got *Failure
	if !errors.As(err, &got) || got.Kind != SchedulerEjected {
		t.Fatalf("errors.As: %v", err)
	}
	if !errors.Is(err, SchedulerEjected) || errors.Is(err, KernelPanic) {
		t.Error("errors.Is does not follow the kind")
	}
	if f.Error() != "scheduler-ejected: scheduler x failed" {
		t.Errorf("Error() = %q", f.Error())
	}
}

func TestJSON(t *testing.T) {
	f := &Failure{Kind: CheckFailed, Summary: "s", Checks: []string{"spread"}, Exit: &Exit{Reason: "r"}}
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back Failure
	if err := json.Unmarshal(raw, &back); err != nil || back.Kind != CheckFailed || back.Checks[0] != "spread" || back.Exit.Reason != "r" {
		t.Fatalf("round trip: %s -> %+v, %v", raw, back, err)
	}
	if err := json.Unmarshal([]byte(`{"kind":"fine","summary":"x"}`), &back); err == nil {
		t.Error("an unknown kind decoded")
	}
	if err := (&Failure{Kind: TestError}).Validate(); err == nil {
		t.Error("a failure without a summary validated")
	}
}

func TestExpect(t *testing.T) {
	spread := &Failure{Kind: CheckFailed, Summary: "FAIL", Checks: []string{"spread"}}
	stall := &Failure{Kind: SchedulerEjected, Summary: "scheduler fixture failed", Exit: &Exit{Reason: "runnable task stall", Message: "w[12] failed to run for 4.5s"}}
	panicked := &Failure{Kind: KernelPanic, Summary: "guest kernel panic"}
	hang := &Failure{Kind: GuestHang, Summary: "killed"}
	harness := &Failure{Kind: HarnessError, Summary: "QEMU exited"}
	for _, tc := range []struct {
		e    Expect
		f    *Failure
		want bool
	}{
		{Expect{}, spread, true},
		{Expect{}, stall, true},
		{Expect{}, panicked, false},
		{Expect{}, hang, false},
		{Expect{}, harness, false},
		{Expect{}, nil, false},
		{Expect{Check: "spread"}, spread, true},
		{Expect{Kind: CheckFailed, Check: "gap"}, spread, false},
		{Expect{Check: "spread"}, stall, false},
		{Expect{Kind: SchedulerEjected, Reason: "failed to run for"}, stall, true},
		{Expect{Kind: SchedulerEjected, Reason: "runnable task stall"}, stall, true},
		{Expect{Kind: SchedulerEjected, Reason: "scx_bpf_error"}, stall, false},
		{Expect{Kind: KernelPanic}, panicked, true},
		{Expect{Kind: GuestHang}, hang, true},
		{Expect{Kind: KernelPanic}, spread, false},
	} {
		if got := tc.e.Match(tc.f); got != tc.want {
			t.Errorf("%s .Match(%v) = %v, want %v", tc.e, tc.f, got, tc.want)
		}
	}
	if err := (Expect{Kind: KernelPanic, Check: "gap"}).Validate(); err == nil {
		t.Error("a check with a non-check kind validated")
	}
	if s := (Expect{Kind: SchedulerEjected, Reason: "x"}).String(); !strings.Contains(s, "scheduler-ejected") || !strings.Contains(s, `"x"`) {
		t.Errorf("String() = %q", s)
	}
}

func TestFormat(t *testing.T) {
	f := &Failure{Kind: SchedulerEjected, Summary: "scheduler s failed", Exit: &Exit{Reason: "runtime error", Message: "boom"},
		Detail: []string{"d1"}, Console: []string{"c1"}, Command: "qemu"}
	v := fmt.Sprintf("%v", f)
	if !strings.Contains(v, "kernel: sched_ext disabled the scheduler (runtime error: boom)") || !strings.Contains(v, "d1") || strings.Contains(v, "c1") {
		t.Errorf("%%v:\n%s", v)
	}
	pv := fmt.Sprintf("%+v", f)
	if !strings.Contains(pv, "c1") || !strings.Contains(pv, "qemu") {
		t.Errorf("%%+v:\n%s", pv)
	}
	if s := fmt.Sprintf("%s", f); s != f.Error() {
		t.Errorf("%%s = %q", s)
	}
}
