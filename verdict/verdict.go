// Package verdict names how a ktstr run failed. Every failed run has exactly
// one Kind from a closed set, decided where the evidence is (the guest knows
// why its scheduler or test function failed, the host knows when the guest
// kernel panicked, hung or could not be started), carried as data from guest
// to host, and shown in test output, JSON records and `ktstr report`.
//
// A Kind is an error, and *Failure unwraps to its Kind, so callers branch
// with the standard library:
//
//	var f *verdict.Failure
//	if errors.As(err, &f) && f.Kind == verdict.SchedulerEjected { ... }
//	if errors.Is(err, verdict.KernelPanic) { ... }
//
// The kinds fall into parties, the answer to "whose fault is it": a check
// found the scheduler misbehaving, the test function failed, the scheduler
// under test failed, the guest kernel died, the guest stopped answering, or
// the harness itself could not do its job. A harness failure is never
// reported as a pass, and never as the scheduler's fault.
package verdict

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is the kind of a failed run. The set is closed: Kinds lists every
// value, and a Kind outside it is invalid (a guest that sends one is
// reported as a harness failure).
type Kind string

// The failure kinds.
const (
	// CheckFailed: the test function returned a failing result; Failure.Checks
	// names the checks ("spread", "gap", ..., "custom" for ktstr.Fail).
	CheckFailed Kind = "check-failed"
	// TestError: the test function returned an error.
	TestError Kind = "test-error"
	// TestPanic: the test function panicked, or its process crashed before
	// reporting a result.
	TestPanic Kind = "test-panic"
	// SchedulerStartFailed: the scheduler could not be started, or exited
	// before sched_ext enabled it (a BPF verifier rejection ends this way).
	SchedulerStartFailed Kind = "scheduler-start-failed"
	// SchedulerNotAttached: the scheduler kept running but sched_ext never
	// reported it enabled within the attach limit.
	SchedulerNotAttached Kind = "scheduler-not-attached"
	// SchedulerDied: the attached scheduler's process exited, was killed, or
	// unregistered itself, while the test ran or when asked to stop.
	SchedulerDied Kind = "scheduler-died"
	// SchedulerEjected: the kernel disabled the scheduler (a runtime error,
	// scx_bpf_error, a runnable task stall); Failure.Exit has the kernel's
	// exit kind and message.
	SchedulerEjected Kind = "scheduler-ejected"
	// KernelPanic: the guest kernel panicked or oopsed.
	KernelPanic Kind = "kernel-panic"
	// GuestHang: the guest did not finish within its limit (the host killed
	// the VM, or the guest's own limit for the test function expired).
	GuestHang Kind = "guest-hang"
	// HarnessError: ktstr could not do its job: QEMU would not start, a
	// prerequisite is missing, the results channel broke or carried frames
	// that cannot be trusted.
	HarnessError Kind = "harness-error"
)

// Kinds returns every failure kind, in the order above.
func Kinds() []Kind {
	return []Kind{CheckFailed, TestError, TestPanic, SchedulerStartFailed, SchedulerNotAttached,
		SchedulerDied, SchedulerEjected, KernelPanic, GuestHang, HarnessError}
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return slices.Contains(Kinds(), k) }

// Error makes a Kind usable as a sentinel with errors.Is.
func (k Kind) Error() string { return string(k) }

// Party is who a failure is about.
type Party string

// Parties.
const (
	PartyCheck     Party = "check"     // a check found the scheduler misbehaving
	PartyTest      Party = "test"      // the test function
	PartyScheduler Party = "scheduler" // the scheduler under test
	PartyKernel    Party = "kernel"    // the guest kernel
	PartyGuest     Party = "guest"     // the guest as a whole stopped answering
	PartyHarness   Party = "harness"   // ktstr itself or the host
)

// Party returns who k is about.
func (k Kind) Party() Party {
	switch k {
	case CheckFailed:
		return PartyCheck
	case TestError, TestPanic:
		return PartyTest
	case SchedulerStartFailed, SchedulerNotAttached, SchedulerDied, SchedulerEjected:
		return PartyScheduler
	case KernelPanic:
		return PartyKernel
	case GuestHang:
		return PartyGuest
	}
	return PartyHarness
}

// AboutSystemUnderTest reports whether k is a verdict the guest reached
// about the system under test (a check, the test function, the scheduler),
// as opposed to the run not reaching a verdict at all (the guest kernel
// died, the guest hung, the harness failed). Plain ExpectErr accepts only
// these kinds.
func (k Kind) AboutSystemUnderTest() bool {
	switch k.Party() {
	case PartyCheck, PartyTest, PartyScheduler:
		return true
	}
	return false
}

// Exit is how the kernel's sched_ext disabled a scheduler, as it logged it.
type Exit struct {
	// Reason is the kernel's exit reason: "runnable task stall",
	// "runtime error", "scx_bpf_error", "unregistered from user space", ...
	Reason string `json:"reason"`
	// Message is the kernel's message for error exits, e.g.
	// "stress[123] failed to run for 4.512s".
	Message string `json:"message,omitempty"`
}

func (e Exit) String() string {
	if e.Message == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Message
}

// Failure is a failed run: its kind and the evidence.
//
// %v prints the summary, then the log lines that explain it (Detail), for
// failures the guest could not explain itself the last 40 console lines,
// and the auto-repro section; %+v prints the whole console tail kept and the QEMU command too.
type Failure struct {
	Kind Kind `json:"kind"`
	// Summary is one line for a person.
	Summary string `json:"summary"`
	// Checks are the ids of the failed checks of a CheckFailed failure.
	Checks []string `json:"checks,omitempty"`
	// Exit is the kernel's sched_ext exit of a SchedulerEjected failure (and
	// of a SchedulerDied one when the kernel logged one).
	Exit *Exit `json:"exit,omitempty"`
	// Detail are the log lines that explain the failure (the sched_ext dump
	// head, the scheduler's log tail, the test process's output), bounded by
	// whoever collected them.
	Detail []string `json:"detail,omitempty"`
	// Console is the tail of the guest's serial console, when the host
	// attached it.
	Console []string `json:"console,omitempty"`
	// Command is the QEMU command line, for reproducing by hand.
	Command string `json:"command,omitempty"`
	// AutoRepro is what the automatic rerun with probes found (nil when
	// there was none: see ktstr.Test.AutoRepro).
	AutoRepro *AutoRepro `json:"auto_repro,omitempty"`
}

// New returns a failure of kind k with a formatted summary.
func New(k Kind, format string, args ...any) *Failure {
	return &Failure{Kind: k, Summary: fmt.Sprintf(format, args...)}
}

// Error returns "<kind>: <summary>".
func (f *Failure) Error() string { return string(f.Kind) + ": " + f.Summary }

// Unwrap returns the failure's Kind, so errors.Is(err, verdict.KernelPanic)
// works.
func (f *Failure) Unwrap() error { return f.Kind }

// Format implements fmt.Formatter (see the type's doc).
func (f *Failure) Format(s fmt.State, verb rune) {
	fmt.Fprint(s, f.Error())
	if verb != 'v' {
		return
	}
	if f.Exit != nil && !strings.Contains(f.Summary, f.Exit.String()) {
		fmt.Fprintf(s, "\nkernel: sched_ext disabled the scheduler (%s)", f.Exit)
	}
	if len(f.Detail) > 0 {
		fmt.Fprintf(s, "\n--- guest log ---\n%s", strings.Join(f.Detail, "\n"))
	}
	console := f.Console
	if !s.Flag('+') && len(console) > 40 {
		console = console[len(console)-40:]
	}
	// The console explains what the guest could not report itself.
	if len(console) > 0 && (s.Flag('+') || len(f.Detail) == 0 || !f.Kind.AboutSystemUnderTest()) {
		fmt.Fprintf(s, "\n--- guest console (last %d lines) ---\n%s", len(console), strings.Join(console, "\n"))
	}
	if f.AutoRepro != nil {
		f.AutoRepro.write(s)
	}
	if s.Flag('+') && f.Command != "" {
		fmt.Fprintf(s, "\n--- QEMU command ---\n%s", f.Command)
	}
}

// Validate reports whether f is well formed: a valid kind and a summary.
// The host applies it to every failure a guest sends.
func (f *Failure) Validate() error {
	switch {
	case f == nil:
		return fmt.Errorf("no failure")
	case !f.Kind.Valid():
		return fmt.Errorf("unknown failure kind %q", f.Kind)
	case strings.TrimSpace(f.Summary) == "":
		return fmt.Errorf("failure of kind %s without a summary", f.Kind)
	}
	return nil
}

// Expect describes the failure a test expects (ktstr.Test.ExpectErr). The
// zero Expect accepts any failure that is about the system under test (see
// Kind.AboutSystemUnderTest); a Kind narrows it to that kind (and accepts it
// even when it is not about the system under test, such as KernelPanic);
// Check and Reason narrow it further.
type Expect struct {
	// Kind is the expected kind; empty means any kind about the system
	// under test.
	Kind Kind `json:"kind,omitempty"`
	// Check, for CheckFailed, is a check id that must be among the failed
	// checks.
	Check string `json:"check,omitempty"`
	// Reason must appear in the failure: in the kernel's exit reason or
	// message, or in the summary.
	Reason string `json:"reason,omitempty"`
}

// Validate checks that e is consistent.
func (e Expect) Validate() error {
	if e.Kind != "" && !e.Kind.Valid() {
		return fmt.Errorf("expected failure kind %q is not one of %v", e.Kind, Kinds())
	}
	if e.Check != "" && e.Kind != "" && e.Kind != CheckFailed {
		return fmt.Errorf("expected check %q with kind %s: a check id only goes with kind %s", e.Check, e.Kind, CheckFailed)
	}
	return nil
}

// Match reports whether f is the expected failure. It returns false for a
// nil f.
func (e Expect) Match(f *Failure) bool {
	if f == nil {
		return false
	}
	kind := e.Kind
	if kind == "" && e.Check != "" {
		kind = CheckFailed
	}
	switch {
	case kind == "" && !f.Kind.AboutSystemUnderTest():
		return false
	case kind != "" && f.Kind != kind:
		return false
	case e.Check != "" && !slices.Contains(f.Checks, e.Check):
		return false
	}
	if e.Reason == "" {
		return true
	}
	if strings.Contains(f.Summary, e.Reason) {
		return true
	}
	return f.Exit != nil && (strings.Contains(f.Exit.Reason, e.Reason) || strings.Contains(f.Exit.Message, e.Reason))
}

// String describes what e accepts.
func (e Expect) String() string {
	kind := e.Kind
	if kind == "" && e.Check != "" {
		kind = CheckFailed
	}
	var b strings.Builder
	if kind == "" {
		b.WriteString("a failure of the system under test (a check, the test function or the scheduler)")
	} else {
		fmt.Fprintf(&b, "a %s failure", kind)
	}
	if e.Check != "" {
		fmt.Fprintf(&b, " of check %q", e.Check)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " mentioning %q", e.Reason)
	}
	return b.String()
}

// MarshalText and UnmarshalText keep Kind a plain string in JSON while
// refusing unknown kinds on the way in.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k), nil }

// UnmarshalText accepts only the kinds of Kinds (and "" for none).
func (k *Kind) UnmarshalText(b []byte) error {
	v := Kind(b)
	if v != "" && !v.Valid() {
		return fmt.Errorf("unknown failure kind %q", v)
	}
	*k = v
	return nil
}
