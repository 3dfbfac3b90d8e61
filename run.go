package ktstr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/ksym"
	"github.com/ktstr-go/ktstr/internal/perf"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/repro"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/kernel"
	"github.com/ktstr-go/ktstr/report"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verdict"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/vm"
)

// Func is a test function. It runs inside the guest.
type Func func(ctx *Ctx) (AssertResult, error)

// Run runs fn inside a VM built as test declares and reports the outcome on
// t: any failure fails t with its kind and evidence (a failed check, an
// error returned by fn, a panic, a scheduler that failed, a guest kernel
// panic, a hang, a harness error). With Test.ExpectErr the test passes only
// on the expected failure. With Test.Replicas above one each replica is a
// subtest. go test -short skips it.
//
// Run is called on the host and again inside the guest (where it runs fn
// only if this call is the one the VM was booted for), so call it the same
// way each time the test runs.
func Run(t *testing.T, test Test, fn Func) {
	t.Helper()
	run(t, test, fn, true)
}

// RunE is Run that returns the run's failure instead of judging it: nil
// when the run passed, else an error wrapping a *Failure (errors.As) whose
// Kind answers errors.Is (ktstr.SchedulerEjected, ...); with replicas, the
// failures of every replica joined. ExpectErr and ExpectFailure are not
// applied: the caller judges the error. An invalid Test still fails t, and
// a missing prerequisite still skips it.
func RunE(t *testing.T, test Test, fn Func) error {
	t.Helper()
	return run(t, test, fn, false)
}

func run(t *testing.T, test Test, fn Func, judge bool) error {
	t.Helper()
	occurrence, iteration := callIndex(t)
	if inGuest != nil {
		runInGuest(t, occurrence, fn)
		return nil
	}
	if !mainCalled.Load() {
		t.Fatal("ktstr: call ktstr.Main(m) from TestMain: the test binary is the guest's init and needs it\n\tfunc TestMain(m *testing.M) { ktstr.Main(m) }")
	}
	if testing.Short() {
		t.Skip("ktstr: -short: skipping a test that boots a VM")
	}
	p, err := resolve(test)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := runner.ReadSettings(); err == nil && s.List {
		listTest(t, s, p, occurrence)
		return nil
	}
	if err := locateScheduler(p, test.Scheduler); err != nil {
		t.Fatalf("ktstr: %v", err)
	}
	env := hostEnvironment(t)
	id := runner.RunID{Test: t.Name(), Occurrence: occurrence}
	if env.Gauntlet {
		return runGauntlet(t, env, p, id, iteration, judge)
	}
	return runReplicas(t, env, p, id, iteration, judge)
}

// runReplicas runs the plan's replicas: one VM on t, or each as subtest
// replica_<n>.
func runReplicas(t *testing.T, env *runner.HostEnv, p *plan.Plan, id runner.RunID, iteration int, judge bool) error {
	t.Helper()
	if p.Replicas == 1 {
		return replica(t, env, p, id, iteration, judge)
	}
	var mu sync.Mutex
	var errs []error
	for i := 0; i < p.Replicas; i++ {
		t.Run(fmt.Sprintf("replica_%d", i+1), func(t *testing.T) {
			rid := id
			rid.Replica = i
			if err := replica(t, env, p, rid, iteration, judge); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("replica %d: %w", i+1, err))
				mu.Unlock()
			}
		})
	}
	return errors.Join(errs...)
}

// calls counts, per *testing.T, the Run calls of a test (its occurrence
// numbers), and per test name the go test -count iterations seen, so that
// every iteration's calls number from 0 as in the guest, which runs one
// iteration.
var calls = struct {
	sync.Mutex
	occurrences map[*testing.T]int
	iteration   map[*testing.T]int
	iterations  map[string]int
}{occurrences: map[*testing.T]int{}, iteration: map[*testing.T]int{}, iterations: map[string]int{}}

// callIndex returns the occurrence of this Run call within t and t's
// iteration.
func callIndex(t *testing.T) (occurrence, iteration int) {
	calls.Lock()
	defer calls.Unlock()
	it, seen := calls.iteration[t]
	if !seen {
		it = calls.iterations[t.Name()]
		calls.iterations[t.Name()] = it + 1
		calls.iteration[t] = it
		t.Cleanup(func() {
			calls.Lock()
			defer calls.Unlock()
			delete(calls.occurrences, t)
			delete(calls.iteration, t)
		})
	}
	n := calls.occurrences[t]
	calls.occurrences[t] = n + 1
	return n, it
}

// replica boots one VM, reports on t and, when judge is set, fails t unless
// the outcome is what the test expects. It returns the run's failure.
func replica(t *testing.T, env *runner.HostEnv, p *plan.Plan, id runner.RunID, iteration int, judge bool) error {
	t.Helper()
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		// Stop before go test's own timeout, which would kill the process
		// without a word about the guest.
		margin := max(time.Until(dl)/20, 5*time.Second)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, dl.Add(-margin), errors.New("go test -timeout is about to expire"))
		defer cancel()
	}
	o, failure := boot(ctx, t, env, p, id)
	if interrupted.Load() {
		// The signal handler is stopping every VM and will exit the
		// process with the signal's status; don't report a failure first.
		select {}
	}
	if o != nil && !o.Started.IsZero() {
		t.Logf("ktstr: boot to test function %.2fs (%s), total %.2fs", o.Started.Sub(o.Begin).Seconds(), o.Phases(), o.End.Sub(o.Begin).Seconds())
	}
	if o != nil {
		logMonitor(t, o)
	}
	if o != nil && !testing.Verbose() && failure != nil {
		for _, l := range o.Logs.Lines() {
			t.Logf("guest: %s", l)
		}
	}
	autoRepro(ctx, t, env, p, id, o, failure)
	if failure != nil && o != nil {
		t.Logf("ktstr: the same guest, interactively: %s", shellCommand(env, p))
	}
	rec := record(env, p, id, t.Name(), iteration, o, failure, judge)
	if testing.Verbose() && failure == nil && rec.Result != nil && len(rec.Result.Cgroups) > 0 {
		t.Logf("ktstr: %s", rec.Result)
	}
	writeRecord(t, env, rec)
	if failure == nil {
		if judge && p.Expect != nil {
			t.Errorf("ktstr: ExpectErr: the run passed, want %s", p.Expect)
		}
		return nil
	}
	switch {
	case !judge:
		t.Logf("ktstr: %v", failure)
	case p.Expect == nil:
		t.Errorf("ktstr: %v", failure)
	case p.Expect.Match(failure):
		t.Logf("ktstr: failed as expected (%s): %s", p.Expect, failure.Error())
	default:
		t.Errorf("ktstr: ExpectErr: want %s, but the run failed otherwise: %v", p.Expect, failure)
	}
	return failure
}

// autoRepro reruns a plan whose scheduler failed (repro.Qualifies) in a
// second VM with probes, when the test and the run allow it, and attaches
// what the probes found to failure. The first run's verdict is decided
// before and does not depend on it: a rerun that cannot boot, passes or
// fails otherwise only says so in the section.
func autoRepro(ctx context.Context, t *testing.T, env *runner.HostEnv, p *plan.Plan, id runner.RunID, o *runner.Outcome, failure *verdict.Failure) {
	t.Helper()
	if !p.AutoRepro || !env.AutoRepro || o == nil || p.Scheduler == nil || !repro.Qualifies(failure, o.Sched != nil) {
		return
	}
	var sym repro.Symbolizer
	var notes, fns []string
	if env.Image.Vmlinux == "" {
		notes = append(notes, "no vmlinux next to the kernel image: kernel functions are not probed or symbolized")
	} else if syms, err := ksym.Load(env.Image.Vmlinux); err != nil {
		notes = append(notes, fmt.Sprintf("kernel symbols: %v: kernel functions are not probed or symbolized", err))
	} else {
		sym = syms.Lookup
		lines, pids := append(slices.Clone(failure.Detail), o.Dump...), repro.Tasks(failure.Exit)
		fns = repro.Functions(lines, pids, syms.Has)
		if o.Accel == vm.TCG && !syms.Has(kernel.StaleInt3Func) {
			named := fns
			fns = repro.Functions(lines, pids, func(n string) bool { return syms.Has(n) && repro.SchedExtOnly(n, syms.Local(n)) })
			if left := slices.DeleteFunc(slices.Clone(named), func(n string) bool { return slices.Contains(fns, n) }); len(left) > 0 {
				notes = append(notes, fmt.Sprintf("not probed: %s: the rest of the kernel runs them too, and this kernel lacks ktstr's %s, without which patching code another vCPU runs can oops a TCG guest (a stale INT3); only sched_ext's own functions are probed", strings.Join(left, ", "), kernel.StaleInt3Patch))
			}
		}
	}
	rp, s := *p, *p.Scheduler
	s.Probe = &proto.ProbeJob{Functions: fns}
	rp.Scheduler = &s
	what := "no kernel function"
	if len(fns) > 0 {
		what = strings.Join(fns, ", ")
	}
	t.Logf("ktstr: auto-repro: the scheduler failed (%s); rerunning the same plan in a second VM with probes on its callbacks, the dispatch kfuncs, the exit path and %s (KTSTR_AUTO_REPRO=0 or AutoRepro: ktstr.Off turns this off)", failure.Kind, what)
	ro, rf := boot(ctx, t, env, &rp, id)
	if interrupted.Load() {
		select {}
	}
	var d time.Duration
	var rep *proto.ProbeReport
	if ro != nil {
		d, rep = ro.End.Sub(ro.Begin), ro.Probe
	}
	a := repro.Section(failure, rf, d, rep, sym)
	a.Notes = append(notes, a.Notes...)
	failure.AutoRepro = a
	state := "did not reproduce"
	if a.Reproduced {
		state = "reproduced"
	}
	t.Logf("ktstr: auto-repro: %s in %.1fs, %d probe event(s) recorded (the section follows the failure)", state, d.Seconds(), a.Total)
}

// shellCommand returns the ktstr shell command line that boots the guest
// of p: its kernel, topology, memory, include files and scheduler with its
// arguments.
func shellCommand(env *runner.HostEnv, p *plan.Plan) string {
	args := []string{"ktstr", "shell", "--topology", p.Topology.String(), "--memory-mb", strconv.Itoa(p.MemoryMB)}
	if k := env.Image.Key; k != "" {
		args = append(args, "--kernel", k)
	} else if env.Image.BzImage != "" {
		args = append(args, "--kernel", env.Image.BzImage)
	}
	for _, f := range p.Include {
		args = append(args, "--include", f.Host)
	}
	if s := p.Scheduler; s != nil {
		args = append(args, "--scheduler", s.Binary, "--watchdog-s", strconv.Itoa(int(s.Watchdog/time.Second)))
		if len(s.Args) > 0 {
			args = append(append(args, "--"), s.Args...)
		}
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '-' || r == '.' || r == '_' || r == '=' || r == ':' || r == ',' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// logMonitor says what the host-side monitor did: how much it sampled and
// at what cost, and every check it could not evaluate (never silently).
func logMonitor(t *testing.T, o *runner.Outcome) {
	t.Helper()
	for _, n := range o.MonitorNotes {
		t.Logf("ktstr: %s", n)
	}
	r := o.MonitorResult
	if r == nil {
		return
	}
	verdict := "checks passed"
	if !r.Passed {
		verdict = fmt.Sprintf("%d check(s) failed", len(r.Failures))
	}
	per := time.Duration(0)
	if o.MonitorSamples > 0 {
		per = o.MonitorCPU / time.Duration(o.MonitorSamples)
	}
	t.Logf("ktstr: monitor: %d sample(s) every %s, %s host CPU per sample; %s", o.MonitorSamples, o.Budget.MonitorInterval, per, verdict)
	if o.KernelWatchdogRead {
		t.Logf("ktstr: monitor: the guest kernel's sched_ext watchdog is %s (scx_watchdog_timeout, read from guest memory)", o.KernelWatchdog)
	}
	for _, n := range r.Notes {
		t.Logf("ktstr: %s", n)
	}
}

// boot runs the plan in a VM, logging progress (and, with -v, the guest's
// log lines as they arrive) on tb. A run that could not start is a harness
// failure.
func boot(ctx context.Context, tb testing.TB, env *runner.HostEnv, p *plan.Plan, id runner.RunID) (*runner.Outcome, *verdict.Failure) {
	tb.Helper()
	logf := tb.Logf
	verbose := testing.Verbose()
	guest := "guest"
	if p.Scheduler != nil && p.Scheduler.Probe != nil {
		guest = "auto-repro guest"
	}
	hooks := runner.Hooks{
		Frame: func(_ time.Time, f proto.Envelope) {
			if f.Type != proto.TypeLog || !verbose {
				return
			}
			var l proto.Log
			if f.Decode(&l) == nil {
				logf("%s: %s", guest, l.Msg)
			}
		},
		Waiting: func(n int) { logf("ktstr: waiting for one of %d VM slot(s) (KTSTR_JOBS)", n) },
		WaitingCPUs: func(cpus []int) {
			if cpus == nil {
				logf("ktstr: waiting for a host CPU: performance-mode VMs hold them all")
				return
			}
			logf("ktstr: performance mode: waiting for host CPU(s) %s, held by another VM", topology.FormatList(cpus))
		},
	}
	if env.Console {
		hooks.Console = func(line string) { logf("console: %s", line) }
	}
	b := runner.Budget(*env, p)
	sched := p.SchedulerName
	if s := p.Scheduler; s != nil {
		sched = fmt.Sprintf("%s [profile %s, watchdog %s]", sched, s.Profile, b.Watchdog)
	}
	logf("ktstr: %s under %s on %s, %d MB, kernel %s, accel %s; host limit %s (%s)",
		tb.Name(), sched, p.Topology, p.MemoryMB, kernelName(env), env.Accel, b.Host.Round(time.Second), b)
	if env.Image.Stale != "" {
		logf("ktstr: warning: kernel %s is not the current recipe's build (%s)", kernelName(env), env.Image.Stale)
	}
	o, err := runner.Run(ctx, *env, p, id, hooks)
	if err == nil && o.VMMCrash() != "" && ctx.Err() == nil {
		// A fault of QEMU says nothing about the guest: boot once more,
		// and say so; a second crash is the verdict.
		logf("ktstr: QEMU crashed (%s: %s); booting the same plan once more", o.VMMCrash(), strings.Join(o.VM.Stderr, "; "))
		o, err = runner.Run(ctx, *env, p, id, hooks)
	}
	if perf.IsUnfit(err) {
		if env.PerfRequired && ciMode() {
			tb.Fatalf("ktstr: %v (CI=true and KTSTR_PERF_REQUIRED=1: this host is meant to run performance mode)", err)
		}
		tb.Skipf("ktstr: skipping: %v", err)
	}
	if err != nil {
		return nil, verdict.New(verdict.HarnessError, "could not start the VM: %v", err)
	}
	logPlacement(tb, o)
	for _, n := range o.KernelNotes {
		logf("ktstr: guest kernel: %s", n)
	}
	return o, o.Failure()
}

// logPlacement says what performance mode got: each vCPU thread's CPU and
// policy as read back from /proc while the VM ran, the service CPU, the
// memory, and what the host could not give.
func logPlacement(tb testing.TB, o *runner.Outcome) {
	tb.Helper()
	pl, pin := o.Placement, o.Pinned
	if pl == nil {
		return
	}
	if pin == nil {
		tb.Logf("ktstr: performance mode: the VM ended before its threads were pinned")
		return
	}
	var vcpus []string
	for _, t := range pin.VCPUs {
		vcpus = append(vcpus, fmt.Sprintf("vCPU %d: %s", t.Index, t))
	}
	mem := "normal pages"
	if pin.Hugepages {
		mem = "2 MiB hugepages"
	}
	tb.Logf("ktstr: performance mode: %s; %d other QEMU thread(s) and the harness's on service CPU %d; RAM from %s bound to host node(s) %v",
		strings.Join(vcpus, ", "), len(pin.Service), pl.Service, mem, pin.HostNodes)
	for _, n := range append(slices.Clone(pl.Notes), pin.Warnings...) {
		tb.Logf("ktstr: performance mode: %s", n)
	}
}

func kernelName(env *runner.HostEnv) string {
	if env.Image.Release != "" {
		if env.Image.Key != "" {
			return env.Image.Release + " (" + env.Image.Key + ")"
		}
		return env.Image.Release
	}
	return env.Image.BzImage
}

// record describes the run for report.Write.
func record(env *runner.HostEnv, p *plan.Plan, id runner.RunID, name string, iteration int, o *runner.Outcome, failure *verdict.Failure, judge bool) report.Record {
	r := report.Record{
		Package: testPackage(), Test: name, Iteration: iteration, Occurrence: id.Occurrence, Replica: id.Replica,
		Topology: p.Topology.String(), Scheduler: p.SchedulerName, Accel: string(env.Accel.Accel),
		Kernel: env.Image.Release, KernelKey: env.Image.Key,
	}
	if p.Expect != nil && judge {
		r.ExpectErr, r.Expected = true, p.Expect.String()
	}
	r.Passed = failure == nil
	if judge && p.Expect != nil {
		r.Passed = p.Expect.Match(failure)
	}
	if p.Scheduler != nil {
		r.Profile = p.Scheduler.Profile
	}
	if failure != nil {
		r.Kind, r.Failure, r.Checks, r.Exit = failure.Kind, failure.Summary, failure.Checks, failure.Exit
		r.Log = slices.Clone(failure.Detail)
	}
	if s := p.Scheduler; s != nil {
		r.SchedulerSHA256 = fileSHA256(s.Binary)
	}
	host := thisHost()
	host.CPUs = env.HostCPUs
	r.Host = &host
	if o == nil {
		return r
	}
	r.Start, r.Total = o.Begin, o.End.Sub(o.Begin)
	if failure != nil {
		if len(r.Log) > 0 {
			r.Log = append(r.Log, "--- guest log ---")
		}
		r.Log = append(r.Log, o.Logs.Lines()...)
	}
	if !o.Started.IsZero() {
		r.BootToFn = o.Started.Sub(o.Begin)
	}
	if o.Sched != nil {
		r.Watchdog = o.Sched.WatchdogNote
		if o.Sched.Watchdog > 0 {
			r.Watchdog = o.Sched.Watchdog.String()
		}
	}
	if o.Result != nil && len(o.Result.Assert) > 0 {
		var a verify.Result
		if json.Unmarshal(o.Result.Assert, &a) == nil {
			r.Result = &a
		}
	}
	r.Monitor, r.Samples, r.MonitorNotes, r.KernelNotes = o.MonitorResult, o.Monitor, o.MonitorNotes, o.KernelNotes
	if failure != nil {
		r.AutoRepro = failure.AutoRepro
	}
	if o.Pinned != nil {
		pin := *o.Pinned
		if o.Placement != nil {
			pin.Warnings = append(slices.Clone(o.Placement.Notes), pin.Warnings...)
		}
		r.Performance = &pin
	}
	if o.KernelWatchdogRead {
		r.KernelWatchdog = o.KernelWatchdog
	}
	return r
}

// fileSHA256 returns the hex sha256 of a file, computed once per path,
// size and modification time.
func fileSHA256(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	if v, ok := hashes.Load(key); ok {
		return v.(string)
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	sum := hex.EncodeToString(h.Sum(nil))
	hashes.Store(key, sum)
	return sum
}

var hashes sync.Map

// thisHost describes the machine, for records (read once per process).
var thisHost = sync.OnceValue(func() report.Host {
	var h report.Host
	h.Name, _ = os.Hostname()
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
})

// writeRecord writes the record to KTSTR_RESULTS_DIR and, with go test
// -artifacts, to the test's artifact directory.
func writeRecord(t *testing.T, env *runner.HostEnv, rec report.Record) {
	t.Helper()
	if env.ResultsDir != "" {
		if err := report.Write(env.ResultsDir, rec); err != nil {
			t.Errorf("ktstr: %v", err)
		}
	}
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		if err := report.Write(t.ArtifactDir(), rec); err != nil {
			t.Errorf("ktstr: %v", err)
		}
	}
}

// testPackage returns the import path of the package under test, found
// from the working directory go test runs the test binary in (the
// package's directory) and the go.mod above it, or that directory.
var testPackage = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	return importPath(dir)
})
