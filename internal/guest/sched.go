package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/repro"
	"github.com/ktstr-go/ktstr/verdict"
)

// watchdogParam is the kernel parameter of the project's kernel patch
// (kernel/patches): the sched_ext watchdog timeout, in ms, of every
// scheduler enabled from then on, replacing its ops.timeout_ms.
const watchdogParam = "/sys/module/sched_ext/parameters/watchdog_override_ms"

// runScheduled runs the test under the job's scheduler: arm the watchdog,
// start the scheduler, wait for it to attach, run the test, and stop it.
// The run fails if the scheduler cannot load, never attaches, dies or is
// ejected during the test, or is found, once stopped, to have been disabled
// for any reason other than the harness's own unregister.
func (s *session) runScheduled() *verdict.Failure {
	sj, b := s.job.Scheduler, s.job.Budget
	kmsg := watchKmsg()
	// Every dump line goes to the host too: a dump the host asked for
	// (SysRq-D) explains a monitor failure, which the guest knows nothing
	// of. Forwarding stops before this returns, so that no dump frame
	// follows the done frame.
	fwd := &gate{}
	defer fwd.close()
	dump := watchDump(func(l string) { fwd.do(func() { _ = s.out.Send(proto.TypeDump, proto.Log{Msg: l}) }) })
	watchdog, note, err := armWatchdog(watchdogParam, b.Watchdog)
	if err != nil {
		return verdict.New(verdict.HarnessError, "arm the sched_ext watchdog: %v", err)
	}
	// The sentinel is ready before the scheduler starts, so it sees the
	// scheduler enabled however fast it stalls.
	// In an auto-repro run it also holds the probes: the exit trigger and
	// the kernel functions before the scheduler starts, its callbacks as
	// soon as it registers them. Their report goes to the host whatever
	// happens next.
	sentinel, err := startSentinel(sj.OpsNames, sj.Probe, b.SentinelReady, s.reaper.start)
	if err != nil {
		return verdict.New(verdict.HarnessError, "%v", err)
	}
	defer sentinel.Stop()
	if sj.Probe != nil {
		defer func() { s.sendProbes(sentinel, kmsg.Lines(), sj.OpsNames, b.Settle) }()
	}
	p, err := launch(sj, s.reaper.start, s.schedulerConsole())
	if err != nil {
		return verdict.New(verdict.SchedulerStartFailed, "%v", err)
	}
	defer p.kill()
	// fail builds a scheduler failure with the kernel's exit, if it logged
	// one, and the logs that explain it.
	fail := func(kind verdict.Kind, format string, args ...any) *verdict.Failure {
		lines, _ := kmsg.waitFor(b.Settle, func(l []string) bool { return exitOf(l, sj.OpsNames) != nil })
		if lines == nil {
			lines = kmsg.Lines()
		}
		f := verdict.New(kind, format, args...)
		if exit := exitOf(lines, sj.OpsNames); exit != nil {
			f.Exit = exit
			if ejected(exit) && (kind == verdict.SchedulerDied || kind == verdict.SchedulerStartFailed) {
				f.Kind = verdict.SchedulerEjected
			}
			f.Summary += "; kernel: sched_ext disabled it (" + exit.String() + ")"
		}
		f.Detail = report(sj.Name, p.Log(), lines, dump.Lines())
		return f
	}
	if err := p.waitAttached(sentinel, b.Attach); err != nil {
		kind := verdict.SchedulerNotAttached
		if err.exitedFirst {
			kind = verdict.SchedulerStartFailed
		}
		p.kill()
		return fail(kind, "%s", err.msg)
	}
	info := proto.SchedInfo{Ops: readState().Ops, Uptime: Uptime(), WatchdogNote: note}
	if watchdog > 0 {
		// The kernel logs the override at enable; a run whose scheduler
		// did not get it must not pass as if it had.
		lines, ok := kmsg.waitFor(b.Settle, func(l []string) bool {
			_, _, ok := enabledAfterOverride(l, sj.OpsNames)
			return ok
		})
		ms, override, _ := enabledAfterOverride(lines, sj.OpsNames)
		switch {
		case !ok:
			return fail(verdict.HarnessError, "the kernel did not log the enable of %s within %s, so the watchdog override cannot be confirmed", sj.Name, b.Settle)
		case !override || ms != uint64(watchdog.Milliseconds()):
			return fail(verdict.HarnessError, "the kernel enabled %s without the %dms watchdog override the harness set (logged: %v, %dms)", sj.Name, watchdog.Milliseconds(), override, ms)
		}
		info.Watchdog = watchdog
	}
	s.logf("scheduler %s attached at guest uptime %.2fs: %s; watchdog %s", sj.Name, info.Uptime.Seconds(),
		strings.Join(append([]string{sj.Path}, sj.Args...), " "), watchdogText(info))
	_ = s.out.Send(proto.TypeSched, info)
	if sj.BpfMapWrite != nil {
		if err := writeMap(sj.BpfMapWrite); err != nil {
			return fail(verdict.TestError, "%v", err)
		}
	}
	testFailure := s.runWorkload()
	// The scheduler must have stayed up and attached through the test.
	why := sentinel.Left()
	if how, exited := p.exited(); exited && why == "" {
		why = "the scheduler process " + how
	}
	if why != "" {
		p.kill()
		return fail(verdict.SchedulerDied, "scheduler %s failed during the test: %s", sj.Name, why)
	}
	sentinel.Stop()
	if err := p.stop(b.Stop); err != nil {
		return fail(verdict.SchedulerDied, "%v", err)
	}
	// Stopped cleanly; now make sure the kernel did not disable it for an
	// error in the meantime (after the last look, or while it stopped).
	lines, ok := kmsg.waitFor(b.Settle, func(l []string) bool { return exitOf(l, sj.OpsNames) != nil })
	if !ok {
		return fail(verdict.HarnessError, "the kernel did not log why %s was disabled within %s of its exit, so a late ejection cannot be ruled out", sj.Name, b.Settle)
	}
	if exit := exitOf(lines, sj.OpsNames); exit.Reason != exitUnregUser {
		kind := verdict.SchedulerDied
		if ejected(exit) {
			kind = verdict.SchedulerEjected
		}
		return fail(kind, "scheduler %s was disabled by the kernel at the end of the test, not by the harness's stop", sj.Name)
	}
	return testFailure
}

// sendProbes sends what the probes recorded of the tasks the kernel's exit
// names (with none, of the task that triggered the exit).
func (s *session) sendProbes(sentinel *Sentinel, kmsg, names []string, limit time.Duration) {
	r, err := sentinel.Probes(repro.Tasks(exitOf(kmsg, names)), limit)
	if err != nil {
		r = &proto.ProbeReport{Notes: []string{"no probe report: " + err.Error()}}
	}
	_ = s.out.Send(proto.TypeProbe, r)
}

// armWatchdog asks the kernel for a watchdog of d for the next scheduler
// enabled, through the parameter at path. On a kernel without it (one not
// built by ktstr), it writes nothing and says what applies instead.
func armWatchdog(path string, d time.Duration) (time.Duration, string, error) {
	if d <= 0 {
		return 0, "", nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, "WatchdogTimeoutS unsupported on this kernel (no sched_ext.watchdog_override_ms; ktstr's kernel build adds it): the scheduler's own ops.timeout_ms applies, 30 s when it sets none", nil
	}
	ms := d.Milliseconds()
	if ms < 1 || ms > 1<<31 {
		return 0, "", fmt.Errorf("watchdog %s out of range", d)
	}
	if err := os.WriteFile(path, []byte(strconv.FormatInt(ms, 10)), 0); err != nil {
		return 0, "", err
	}
	back, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(back)) != strconv.FormatInt(ms, 10) {
		return 0, "", fmt.Errorf("%s reads %q after writing %d (%v)", path, strings.TrimSpace(string(back)), ms, err)
	}
	return time.Duration(ms) * time.Millisecond, "", nil
}

func watchdogText(info proto.SchedInfo) string {
	if info.Watchdog > 0 {
		return info.Watchdog.String() + " (sched_ext.watchdog_override_ms)"
	}
	if info.WatchdogNote != "" {
		return info.WatchdogNote
	}
	return "the kernel's default"
}

// report joins the logs that explain a scheduler failure, each cut to a
// size a person reads: the head of the kernel's state dump (exit reason,
// backtrace, the first CPUs), the kernel's sched_ext lines, and last the
// tail of the scheduler's own output.
func report(name string, log, kmsg, dump []string) []string {
	var out []string
	if len(dump) > 0 {
		out = append(out, fmt.Sprintf("sched_ext dump (first %d of %d lines):", min(len(dump), 30), len(dump)))
		out = append(out, dump[:min(len(dump), 30)]...)
	}
	if len(kmsg) > 0 {
		out = append(out, "kernel log (sched_ext):")
		out = append(out, last(kmsg, 15)...)
	}
	out = append(out, fmt.Sprintf("scheduler %s log (last lines):", name))
	return append(out, last(log, 25)...)
}

func last(l []string, n int) []string {
	if len(l) > n {
		return l[len(l)-n:]
	}
	return l
}

// gate runs functions until it is closed; close waits for a running one.
type gate struct {
	mu     sync.Mutex
	closed bool
}

func (g *gate) do(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		f()
	}
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
