package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/budget"
	"github.com/ktstr-go/ktstr/internal/perf"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/tail"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verdict"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/vm"
)

// keptLogs is how many log frames an Outcome keeps (the last ones); the
// guest may send any number.
const keptLogs = 1000

// Outcome is everything a run produced. Everything in it that came from
// the guest is untrusted: Failure checks it before believing it.
type Outcome struct {
	kind   string
	Budget budget.Budget
	Accel  vm.Accel
	VCPUs  int

	VM vm.Result
	// TaskErr is the error of the VM's side tasks (the results reader).
	TaskErr error

	Hello  *proto.Hello
	Sched  *proto.SchedInfo
	Result *proto.Result
	Topo   *topology.Observed
	Done   *proto.Done
	// Logs keeps the last log frames; LogsSeen counts all of them.
	Logs *tail.Lines

	Started time.Time // host time the test function started; zero if it never did
	// StartedUptime is the guest's uptime when the test function started.
	StartedUptime time.Duration
	Begin         time.Time // host time Run was called (slot wait excluded)
	End           time.Time // host time QEMU was reaped and the channel drained

	// FrameErr is the first frame that could not be trusted, FrameErrs
	// how many there were.
	FrameErr  error
	FrameErrs int

	// KernelNotes are the guest kernel's console lines the harness reports
	// whatever the verdict: it resumed after a stale INT3 (see
	// kernel.StaleInt3Patch), which only emulation produces.
	KernelNotes []string

	// Dump holds the first lines of the kernel's sched_ext dumps the guest
	// forwarded (at an ejection, or when the monitor asked for one).
	Dump []string
	// Placement is where performance mode placed the VM, Pinned what the
	// kernel applied, read back while it ran (both nil otherwise).
	Placement *perf.Placement
	Pinned    *vm.Pinned
	// Probe is what an auto-repro run's probes recorded (nil for other
	// runs, or when the guest sent nothing).
	Probe *proto.ProbeReport
	// Monitor is what the host-side monitor sampled (nil when it did not
	// run), MonitorResult its checks' verdict, MonitorNotes why something
	// was not checked; MonitorCPU is the host CPU time the samples took.
	Monitor        *verify.MonitorSeries
	MonitorResult  *verify.Result
	MonitorNotes   []string
	MonitorCPU     time.Duration
	MonitorSamples int
	// KernelWatchdog is the sched_ext watchdog timeout the host read in the
	// guest kernel's memory while the test ran (KernelWatchdogRead says it
	// could): it must be what the guest said the kernel applied.
	KernelWatchdog     time.Duration
	KernelWatchdogRead bool

	checks  verify.Config
	monitor *monitorRun
}

// keptDump is how many dump lines an Outcome keeps.
const keptDump = 300

func newOutcome(kind string, b budget.Budget, accel vm.Accel, vcpus int) *Outcome {
	return &Outcome{kind: kind, Budget: b, Accel: accel, VCPUs: vcpus, Logs: tail.New(keptLogs), Begin: time.Now()}
}

// readFrames reads the results channel to EOF, keeping what each frame
// says and every reason not to trust the channel.
func (o *Outcome) readFrames(r io.Reader, each func(time.Time, proto.Envelope)) {
	fr := proto.NewReader(r)
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			o.frameErr(err)
			if errors.Is(err, proto.ErrCorrupt) {
				continue
			}
			return
		}
		now := time.Now()
		if err := o.take(now, f); err != nil {
			o.frameErr(err)
		}
		if each != nil {
			each(now, f)
		}
	}
}

func (o *Outcome) frameErr(err error) {
	if o.FrameErr == nil {
		o.FrameErr = err
	}
	o.FrameErrs++
}

// take records one frame, refusing the ones the protocol does not allow:
// unknown types, anything after Done, a Hello that is not first, and a
// second Hello, Sched, Started, Result, Topo, Probe or Done.
func (o *Outcome) take(at time.Time, f proto.Envelope) error {
	if o.Done != nil {
		return fmt.Errorf("a %q frame after the done frame", f.Type)
	}
	if !proto.KnownType(f.Type) {
		return fmt.Errorf("a frame of unknown type %q", f.Type)
	}
	if f.Type != proto.TypeHello && o.Hello == nil {
		return fmt.Errorf("a %q frame before the hello frame", f.Type)
	}
	once := func(seen bool) error {
		if seen {
			return fmt.Errorf("a second %q frame", f.Type)
		}
		return nil
	}
	switch f.Type {
	case proto.TypeHello:
		if err := once(o.Hello != nil); err != nil {
			return err
		}
		o.Hello = new(proto.Hello)
		return f.Decode(o.Hello)
	case proto.TypeSched:
		if err := once(o.Sched != nil); err != nil {
			return err
		}
		o.Sched = new(proto.SchedInfo)
		return f.Decode(o.Sched)
	case proto.TypeStarted:
		if err := once(!o.Started.IsZero()); err != nil {
			return err
		}
		if o.monitor != nil {
			o.monitor.started()
		}
		var st proto.Started
		if err := f.Decode(&st); err != nil {
			return err
		}
		o.Started, o.StartedUptime = at, st.Uptime
	case proto.TypeLog:
		var l proto.Log
		if err := f.Decode(&l); err != nil {
			return err
		}
		o.Logs.Add(l.Msg)
	case proto.TypeResult:
		if err := once(o.Result != nil); err != nil {
			return err
		}
		if o.monitor != nil {
			o.monitor.stopped()
		}
		o.Result = new(proto.Result)
		return f.Decode(o.Result)
	case proto.TypeTopo:
		if err := once(o.Topo != nil); err != nil {
			return err
		}
		o.Topo = new(topology.Observed)
		return f.Decode(o.Topo)
	case proto.TypeConfine:
		var c proto.Confine
		if err := f.Decode(&c); err != nil {
			return err
		}
		if o.monitor != nil {
			o.monitor.confined.Store(c.On)
		}
	case proto.TypeDump:
		var l proto.Log
		if err := f.Decode(&l); err != nil {
			return err
		}
		if len(o.Dump) < keptDump {
			o.Dump = append(o.Dump, l.Msg)
		}
	case proto.TypeProbe:
		if err := once(o.Probe != nil); err != nil {
			return err
		}
		o.Probe = new(proto.ProbeReport)
		return f.Decode(o.Probe)
	case proto.TypeDone:
		if o.monitor != nil {
			o.monitor.stopped()
		}
		var d proto.Done
		if err := f.Decode(&d); err != nil {
			// Still the end: nothing may follow, and the run fails.
			o.Done = &proto.Done{}
			return err
		}
		if d.Failure != nil {
			if err := d.Failure.Validate(); err != nil {
				o.Done = &proto.Done{}
				return fmt.Errorf("done frame: %w", err)
			}
		}
		o.Done = &d
	}
	return nil
}

// Failure classifies how the run ended: nil when it passed, else exactly one
// failure kind with its evidence. The order decides which evidence wins:
// a broken results channel, then a guest kernel panic, then the host killing
// the VM, then QEMU failing, then a missing done frame, and only then what
// the guest reported (its own failures first, then the test function's
// result).
func (o *Outcome) Failure() *verdict.Failure {
	f := o.classify()
	if f != nil {
		f.Console, f.Command = o.VM.Console, o.VM.Command
	}
	return f
}

func (o *Outcome) classify() *verdict.Failure {
	switch {
	case o.TaskErr != nil:
		return verdict.New(verdict.HarnessError, "reading the guest's results channel failed: %v", o.TaskErr)
	case panicLine(o.VM.Console) != "":
		f := verdict.New(verdict.KernelPanic, "guest kernel panic: %s", panicLine(o.VM.Console))
		var cause string
		f.Detail, cause = oops(o.VM.Console)
		if cause != "" && !strings.Contains(f.Summary, cause) {
			f.Summary += " (" + cause + ")"
		}
		if o.Done != nil {
			f.Summary += " (after the guest reported done)"
		}
		return f
	case o.VM.TimedOut:
		f := verdict.New(verdict.GuestHang, "guest did not finish: killed after the host-side %s limit (%s, %d vCPU(s) on %.1fx overcommit); it hung or is too slow for this host",
			o.Budget.Host.Round(time.Second), o.Accel, o.VCPUs, o.Budget.Overcommit)
		if o.Done != nil {
			f.Summary = fmt.Sprintf("guest reported done but did not power off within the host-side %s limit", o.Budget.Host.Round(time.Second))
		}
		return f
	case o.VM.Killed != "":
		return verdict.New(verdict.HarnessError, "VM killed: %s", o.VM.Killed)
	case o.VMMCrash() != "":
		return verdict.New(verdict.HarnessError, "QEMU crashed (%s): a fault of the VMM, not of the guest or the scheduler: %s", o.VMMCrash(), strings.Join(o.VM.Stderr, "; "))
	case o.FrameErr != nil:
		return verdict.New(verdict.HarnessError, "the results channel cannot be trusted: %d bad frame(s), the first: %v", o.FrameErrs, o.FrameErr)
	case o.VM.ExitCode != 0:
		return verdict.New(verdict.HarnessError, "QEMU exited with status %d: %s", o.VM.ExitCode, strings.Join(o.VM.Stderr, "; "))
	case o.Done == nil:
		return verdict.New(verdict.HarnessError, "guest powered off without reporting done (init died or the results channel failed)")
	case o.Done.Failure != nil:
		f := *o.Done.Failure
		return &f
	case o.Done.Dropped > 0:
		return verdict.New(verdict.HarnessError, "guest init dropped %d frame(s) of the test process that it could not trust", o.Done.Dropped)
	case o.KernelWatchdogRead && o.Sched != nil && o.Sched.Watchdog > 0 && o.KernelWatchdog != o.Sched.Watchdog:
		return verdict.New(verdict.HarnessError, "the guest kernel's sched_ext watchdog reads %s from the host, not the %s the harness set", o.KernelWatchdog, o.Sched.Watchdog)
	}
	if o.kind == proto.KindTopo {
		if o.Topo == nil {
			return verdict.New(verdict.HarnessError, "guest reported no topology")
		}
		return nil
	}
	f := resultFailure(o.Result, o.MonitorResult)
	if f != nil && f.Kind == verdict.CheckFailed && o.MonitorResult != nil && !o.MonitorResult.Passed && len(o.Dump) > 0 {
		f.Detail = append([]string{"sched_ext dump at the first sustained violation:"}, o.Dump...)
	}
	return f
}

// resultFailure turns the test function's result, and the monitor's checks
// when they ran, into a failure, or nil when both passed.
func resultFailure(r *proto.Result, mon *verify.Result) *verdict.Failure {
	if r == nil {
		return verdict.New(verdict.HarnessError, "guest reported done without the test function's result")
	}
	switch {
	case r.Panic != "":
		f := verdict.New(verdict.TestPanic, "test function panicked: %s", firstLine(r.Panic))
		f.Detail = strings.Split(r.Panic, "\n")
		return f
	case r.Err != "":
		return verdict.New(verdict.TestError, "test function returned an error: %s", r.Err)
	}
	var a verify.Result
	if err := json.Unmarshal(r.Assert, &a); err != nil {
		return verdict.New(verdict.HarnessError, "decode the test function's result: %v", err)
	}
	switch {
	case a.Passed && len(a.Failures) > 0:
		return verdict.New(verdict.HarnessError, "the test function's result says it passed but lists %d failure(s)", len(a.Failures))
	case !a.Passed && len(a.Failures) == 0:
		return verdict.New(verdict.TestError, "test function returned an AssertResult that neither passed nor lists a failure (return ktstr.Pass() to pass)")
	}
	if mon != nil && !mon.Passed {
		a = a.Merge(*mon)
	}
	if a.Passed {
		return nil
	}
	f := verdict.New(verdict.CheckFailed, "%s", strings.TrimSpace(a.String()))
	for _, fl := range a.Failures {
		if !slices.Contains(f.Checks, fl.Check) {
			f.Checks = append(f.Checks, fl.Check)
		}
	}
	return f
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// panicLine returns the kernel's panic or oops line from the console, if
// any. Warnings ("WARNING:", "BUG: soft lockup") are not panics: with
// oops=panic every oops ends in "Kernel panic - not syncing".
func panicLine(console []string) string {
	for _, marker := range []string{panicMarker, "Oops:", "general protection fault", "kernel BUG at"} {
		for _, l := range console {
			if i := strings.Index(l, marker); i >= 0 {
				return strings.TrimSpace(l[i:])
			}
		}
	}
	return ""
}

// staleInt3Line is what the recipe kernel logs when it resumes after a
// stale INT3 (kernel/patches/0002-x86-int3-stale-under-emulation.patch).
const staleInt3Line = "after a stale INT3"

// console looks at each line of the guest's console as it comes, keeping
// the KernelNotes, then passes it on to next (nil: nobody).
func (o *Outcome) console(next func(string)) func(string) {
	return func(line string) {
		if strings.Contains(line, staleInt3Line) && len(o.KernelNotes) < 8 {
			n := line
			if i := strings.Index(n, "ktstr: "); i >= 0 {
				n = n[i+len("ktstr: "):]
			}
			o.KernelNotes = append(o.KernelNotes, strings.TrimSpace(n)+"; the guest went on")
		}
		if next != nil {
			next(line)
		}
	}
}

// VMMCrash says how QEMU itself crashed: killed by a signal the harness
// did not send, or failing one of its own assertions; "" when it did not.
// Such a run says nothing about the guest, and may be run again.
func (o *Outcome) VMMCrash() string {
	if o.VM.Killed != "" || o.VM.ExitCode == 0 {
		return ""
	}
	for _, l := range o.VM.Stderr {
		if strings.Contains(l, "Assertion") && strings.Contains(l, "failed") {
			return "an assertion of its own failed"
		}
	}
	if o.VM.ExitCode < 0 {
		return "killed by a signal the harness did not send"
	}
	return ""
}

// panicMarker starts the kernel's panic line.
const panicMarker = "Kernel panic - not syncing"

// oopsMarkers start the kernel's report of what went wrong before it
// panics; a warning only where nothing else does (panic_on_warn).
var oopsMarkers = [][]string{{"BUG:", "Oops:", "general protection fault", "kernel BUG at", "Unable to handle kernel"}, {"WARNING:"}}

// oopsLines bounds the oops excerpt.
const oopsLines = 60

// oops returns the kernel's report on the console that led to its panic,
// from the line that starts it (the earliest "BUG:", "Oops:", ... line of
// the oopsLines before the panic line) to the panic line, and its cause:
// that first line with the faulting instruction ("BUG: kernel NULL pointer
// dereference, address: 0000000000000010; RIP: 0010:fn+0x1/0x2"). Without
// such a line, it returns the lines before the panic and no cause.
func oops(console []string) (lines []string, cause string) {
	end := slices.IndexFunc(console, func(l string) bool { return strings.Contains(l, panicMarker) })
	if end < 0 {
		return nil, ""
	}
	from := max(0, end-oopsLines)
	start := -1
	for _, markers := range oopsMarkers {
		start = slices.IndexFunc(console[from:end], func(l string) bool {
			return slices.ContainsFunc(markers, func(m string) bool { return strings.Contains(l, m) })
		})
		if start >= 0 {
			break
		}
	}
	if start < 0 {
		return slices.Clone(console[max(0, end-oopsLines/2) : end+1]), ""
	}
	lines = slices.Clone(console[from+start : end+1])
	cause = strings.TrimSpace(lines[0])
	if i := strings.Index(cause, "] "); strings.HasPrefix(cause, "[") && i > 0 {
		cause = strings.TrimSpace(cause[i+2:]) // the kernel's timestamp
	}
	for _, l := range lines {
		if i := strings.Index(l, "RIP: "); i >= 0 {
			cause += "; " + strings.TrimSpace(l[i:])
			break
		}
	}
	return lines, cause
}

// Phases describes where the time to the test function went: QEMU and
// firmware before the kernel started, the kernel's boot to init, and init's
// set-up (scheduler attach included) to the test function.
func (o *Outcome) Phases() string {
	if o.Started.IsZero() || o.Hello == nil {
		return ""
	}
	toFn := o.Started.Sub(o.Begin)
	beforeKernel := toFn - o.StartedUptime
	return fmt.Sprintf("host+QEMU before the kernel %.2fs, kernel boot to init %.2fs, init to test function %.2fs",
		beforeKernel.Seconds(), o.Hello.Uptime.Seconds(), (o.StartedUptime - o.Hello.Uptime).Seconds())
}
