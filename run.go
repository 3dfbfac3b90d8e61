package ktstr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/report"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/vm"
)

// Func is a test function. It runs inside the guest.
type Func func(ctx *Ctx) (AssertResult, error)

// Run runs fn inside a VM built as test declares and reports the outcome on
// t: a failed check, an error returned by fn, a panic, a guest kernel panic
// or a hang each fail t with the relevant guest output. With
// Test.ExpectErr the outcome is inverted. With Test.Replicas above one each
// replica is a subtest.
//
// Run is called on the host and again inside the guest (where it runs fn
// only if this call is the one the VM was booted for), so call it the same
// way each time the test runs.
func Run(t *testing.T, test Test, fn Func) {
	t.Helper()
	occurrence := nextOccurrence(t.Name())
	if inGuest != nil {
		runInGuest(t, occurrence, fn)
		return
	}
	if !mainCalled.Load() {
		t.Fatal("ktstr: call ktstr.Main(m) from TestMain: the test binary is the guest's init and needs it\n\tfunc TestMain(m *testing.M) { ktstr.Main(m) }")
	}
	p, err := resolve(test)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.locateScheduler(); err != nil {
		t.Fatalf("ktstr: %v", err)
	}
	env := hostEnvironment(t)
	if p.replicas == 1 {
		runReplica(t, env, p, t.Name(), occurrence, 0, fn)
		return
	}
	name := t.Name()
	for i := 0; i < p.replicas; i++ {
		t.Run(fmt.Sprintf("replica_%d", i+1), func(t *testing.T) {
			runReplica(t, env, p, name, occurrence, i, fn)
		})
	}
}

var occurrences = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

// nextOccurrence numbers the Run calls of one test, from 0.
func nextOccurrence(name string) int {
	occurrences.Lock()
	defer occurrences.Unlock()
	n := occurrences.m[name]
	occurrences.m[name] = n + 1
	return n
}

// runReplica boots one VM and reports its outcome on t.
func runReplica(t *testing.T, env *hostEnv, p *plan, name string, occurrence, replica int, fn Func) {
	t.Helper()
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		// Stop before go test's own timeout, which would kill the process
		// without a word about the guest.
		margin := time.Until(dl) / 20
		if margin < 5*time.Second {
			margin = 5 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, dl.Add(-margin), errors.New("go test -timeout is about to expire"))
		defer cancel()
	}
	o, err := bootVM(ctx, t, env, p, name, occurrence, replica)
	if interrupted.Load() {
		// The signal handler is stopping every VM and will exit the
		// process with the signal's status; don't report a failure first.
		select {}
	}
	if err != nil {
		t.Fatalf("ktstr: %v", err)
	}
	failure := outcomeFailure(o)
	if !o.Started.IsZero() {
		t.Logf("ktstr: boot to test function %.2fs (%s), total %.2fs", o.Started.Sub(o.Begin).Seconds(), o.Phases(), o.End.Sub(o.Begin).Seconds())
	}
	if !testing.Verbose() && failure != nil {
		for _, l := range o.Logs {
			t.Logf("guest: %s", l)
		}
	}
	rec := record(env, p, name, replica, o, failure)
	if testing.Verbose() && failure == nil && rec.Result != nil && len(rec.Result.Cgroups) > 0 {
		t.Logf("ktstr: %s", rec.Result)
	}
	if dir := os.Getenv("KTSTR_RESULTS_DIR"); dir != "" {
		if err := report.Write(dir, rec); err != nil {
			t.Errorf("ktstr: %v", err)
		}
	}
	switch {
	case p.test.ExpectErr && failure == nil:
		t.Errorf("ktstr: ExpectErr is set but the run succeeded")
	case p.test.ExpectErr:
		t.Logf("ktstr: failed as expected (ExpectErr): %v", failure)
	case failure != nil:
		t.Errorf("ktstr: %v", failure)
	}
}

// bootVM runs the job of one replica in a VM, logging progress (and, with
// -v, the guest's log lines as they arrive) on tb.
func bootVM(ctx context.Context, tb testing.TB, env *hostEnv, p *plan, name string, occurrence, replica int) (*runner.Outcome, error) {
	tb.Helper()
	logf := tb.Logf
	budget := vm.NewBudget(env.accel.Accel, p.topo.CPUs())
	job := proto.Job{
		Kind: proto.KindTest, Test: name, Occurrence: occurrence, Replica: replica,
		Topology: p.topo, MemoryMB: p.memoryMB, Duration: p.duration, WorkersPerCgroup: p.workers,
		Accel: string(env.accel.Accel), Scale: budget.Scale,
	}
	// The guest gives the test function its duration plus generous set-up
	// and tear-down time, scaled for the accelerator.
	work := p.duration + 20*time.Second
	job.TestTimeout = budget.Guest(work)
	var files []runner.File
	var kernelArgs []string
	if s := p.test.Scheduler; !s.IsEEVDF() {
		sj := &proto.SchedulerJob{
			Name: s.DisplayName(), Path: path.Join(guestSchedDir, filepath.Base(p.schedBinary)), Args: p.schedArgs,
			Profile:       p.profile.Name,
			AttachTimeout: budget.Guest(5 * time.Second),
			// The watchdog only stretches with vCPUs outnumbering host
			// CPUs: emulation slows everything alike, overcommit starves
			// vCPUs.
			WatchdogTimeout: time.Duration(float64(p.watchdog) * budget.Overcommit),
		}
		if w := p.test.BpfMapWrite; w != nil {
			sj.BpfMapWrite = &proto.BpfMapWrite{Map: w.Map, Key: w.Key, Value: w.Value}
		}
		job.Scheduler = sj
		files = append(files, runner.File{Guest: sj.Path, Host: p.schedBinary, Binary: true})
		if s.ConfigFile != "" {
			files = append(files, runner.File{Guest: path.Join(guestSchedConfig, filepath.Base(s.ConfigFile)), Host: s.ConfigFile})
		}
		// Attaching, a watchdog ejection and stopping all take time too.
		work += 10*time.Second + sj.WatchdogTimeout
	}
	if raw, err := json.Marshal(p.checks); err == nil {
		job.Checks = raw
	}
	if s := p.test.Scheduler; s != nil {
		job.Sysctls, kernelArgs = s.Sysctls, s.KernelArgs
	}
	spec := runner.Spec{
		Job: job, Init: env.self, Files: files, Kernel: env.kernel, KernelArgs: kernelArgs, Accel: env.accel.Accel,
		Timeout: budget.Host(work),
	}
	if env.timeout > 0 {
		spec.Timeout = env.timeout
	}
	for _, f := range p.include {
		g := filepath.Join(proto.IncludeDir, filepath.Base(f))
		spec.Files = append(spec.Files, runner.File{Guest: g, Host: f, Binary: true})
		spec.Job.IncludeFiles = append(spec.Job.IncludeFiles, g)
	}
	verbose := testing.Verbose()
	spec.Frame = func(_ time.Time, f proto.Envelope) {
		if f.Type != proto.TypeLog || !verbose {
			return
		}
		var l proto.Log
		if f.Decode(&l) == nil {
			logf("guest: %s", l.Msg)
		}
	}
	if os.Getenv("KTSTR_CONSOLE") != "" {
		spec.Console = func(line string) { logf("console: %s", line) }
	}
	sched := p.test.Scheduler.DisplayName()
	if sj := job.Scheduler; sj != nil {
		sched = fmt.Sprintf("%s [profile %s, watchdog %s]", sched, sj.Profile, sj.WatchdogTimeout)
	}
	logf("ktstr: %s under %s on %s, %d MB, accel %s; host limit %s (%s)",
		name, sched, p.topo, p.memoryMB, env.accel, spec.Timeout.Round(time.Second), budget)
	return runner.Run(ctx, spec)
}

// record describes the run for report.Write.
func record(env *hostEnv, p *plan, name string, replica int, o *runner.Outcome, failure error) report.Record {
	r := report.Record{
		Test: name, Replica: replica, Topology: p.topo.String(), Scheduler: p.test.Scheduler.DisplayName(),
		Accel: string(env.accel.Accel), ExpectErr: p.test.ExpectErr, Passed: (failure == nil) != p.test.ExpectErr,
		Total: o.End.Sub(o.Begin), Start: o.Begin,
	}
	if !p.test.Scheduler.IsEEVDF() {
		r.Profile = p.profile.Name
	}
	if failure != nil {
		r.Failure = failure.Error()
	}
	if !o.Started.IsZero() {
		r.BootToFn = o.Started.Sub(o.Begin)
	}
	if o.Result != nil && len(o.Result.Assert) > 0 {
		var a verify.Result
		if json.Unmarshal(o.Result.Assert, &a) == nil {
			r.Result = &a
		}
	}
	return r
}

// outcomeFailure turns a run's outcome into the test's failure, or nil.
func outcomeFailure(o *runner.Outcome) error {
	if err := o.Err(); err != nil {
		return err
	}
	r := o.Result
	if r == nil {
		return errors.New("guest reported no result")
	}
	switch {
	case r.Panic != "":
		return fmt.Errorf("test function panicked: %s", r.Panic)
	case r.Err != "":
		return fmt.Errorf("test function returned an error: %s", r.Err)
	}
	var a verify.Result
	if err := json.Unmarshal(r.Assert, &a); err != nil {
		return fmt.Errorf("decode test result: %w", err)
	}
	if a.Passed {
		return nil
	}
	if len(a.Failures) == 0 {
		return errors.New("test function returned an AssertResult that neither passed nor lists a failure (return ktstr.Pass() to pass)")
	}
	return &checkFailure{a}
}

// checkFailure is a failing AssertResult as an error.
type checkFailure struct{ r verify.Result }

func (c *checkFailure) Error() string { return strings.TrimSpace(c.r.String()) }
