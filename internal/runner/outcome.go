package runner

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels for how a guest can fail outside the test function; the error
// Outcome.Err returns wraps one of them.
var (
	ErrKernelPanic = errors.New("guest kernel panic")
	ErrTimeout     = errors.New("guest timed out")
	ErrCanceled    = errors.New("run canceled")
	ErrNoDone      = errors.New("guest ended without reporting")
	ErrGuest       = errors.New("guest-side failure")
	ErrQEMU        = errors.New("QEMU failed")
)

// GuestError is a failure of the guest as a whole, with the console tail
// that explains it. %v prints the summary and the last lines of the
// relevant log; %+v prints the whole console tail and the QEMU command.
type GuestError struct {
	Kind    error
	Summary string
	Detail  []string // the log lines that explain it (a test process's output, a scheduler's log), bounded by the guest
	Console []string
	Command string
}

func (e *GuestError) Error() string { return e.Summary }

func (e *GuestError) Unwrap() error { return e.Kind }

// Format implements fmt.Formatter.
func (e *GuestError) Format(s fmt.State, verb rune) {
	fmt.Fprint(s, e.Summary)
	if verb != 'v' {
		return
	}
	// Detail is bounded by whoever built it, so it is shown whole.
	detail, console := e.Detail, e.Console
	if !s.Flag('+') {
		console = last(console, 40)
	}
	if len(detail) > 0 {
		fmt.Fprintf(s, "\n--- guest log ---\n%s", strings.Join(detail, "\n"))
	}
	if len(console) > 0 && (s.Flag('+') || len(detail) == 0 || e.Kind != ErrGuest) {
		fmt.Fprintf(s, "\n--- guest console (last %d lines) ---\n%s", len(console), strings.Join(console, "\n"))
	}
	if s.Flag('+') && e.Command != "" {
		fmt.Fprintf(s, "\n--- QEMU command ---\n%s", e.Command)
	}
}

func last(l []string, n int) []string {
	if len(l) > n {
		return l[len(l)-n:]
	}
	return l
}

// Err classifies how the run ended: nil when the guest reported Done
// without a failure, else a *GuestError wrapping one of the sentinels.
func (o *Outcome) Err() error {
	ge := &GuestError{Console: o.VM.Console, Command: o.VM.Command}
	vcpus := o.spec.Job.Topology.CPUs()
	switch {
	case o.Done != nil && o.Done.Failure == "":
		return nil
	case o.Done != nil:
		ge.Kind, ge.Summary = ErrGuest, o.Done.Failure
		if o.Done.Detail != "" {
			ge.Detail = strings.Split(o.Done.Detail, "\n")
		}
	case panicLine(o.VM.Console) != "":
		ge.Kind, ge.Summary = ErrKernelPanic, "guest kernel panic: "+panicLine(o.VM.Console)
	case strings.HasPrefix(o.VM.Killed, "timeout"):
		ge.Kind = ErrTimeout
		ge.Summary = fmt.Sprintf("guest did not finish: killed after the host-side %s limit (%s, %d vCPUs); it hung or is too slow for this host",
			strings.TrimPrefix(o.VM.Killed, "timeout after "), o.spec.Accel, vcpus)
	case o.VM.Killed != "":
		ge.Kind, ge.Summary = ErrCanceled, "VM killed: "+o.VM.Killed
	case o.VM.ExitCode != 0:
		ge.Kind = ErrQEMU
		ge.Summary = fmt.Sprintf("QEMU exited with status %d: %s", o.VM.ExitCode, strings.Join(o.VM.Stderr, "; "))
	default:
		ge.Kind, ge.Summary = ErrNoDone, "guest powered off without reporting a result (init died or the results channel failed)"
	}
	if o.FrameErr != nil {
		ge.Summary += fmt.Sprintf(" (results channel: %v)", o.FrameErr)
	}
	return ge
}

// panicLine returns the kernel's panic or oops line from the console, if
// any.
func panicLine(console []string) string {
	for _, marker := range []string{"Kernel panic - not syncing", "Oops:", "BUG:", "general protection fault"} {
		for _, l := range console {
			if i := strings.Index(l, marker); i >= 0 {
				return strings.TrimSpace(l[i:])
			}
		}
	}
	return ""
}
