package ktstr_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/kernel"
	"github.com/ktstr-go/ktstr/report"
)

// noRepro switches auto-repro off for a helper whose failure is tested for
// something else (TestAutoRepro covers the rerun).
const noRepro = "KTSTR_AUTO_REPRO=0"

// TestAutoRepro: a scheduler failure is rerun in a second VM with probes,
// and the failure gains a section with the decoded events of the task
// involved; a test expecting the failure, one with AutoRepro off and a
// healthy run boot no second VM (KTSTR_AUTO_REPRO=0 is in TestFailureModes).
func TestAutoRepro(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	stalledRE := regexp.MustCompile(`\[(\d+)\] failed to run for`)
	for _, tc := range []struct {
		mode  string
		want  []string
		check func(t *testing.T, rec report.Record)
	}{
		// The fixture stops dispatching user tasks after 300 dispatches:
		// the stalled task's last events end with its dispatch to the DSQ
		// the fixture never consumes.
		{mode: "sched-stall", want: []string{
			"ktstr: auto-repro: the scheduler failed (scheduler-ejected); rerunning the same plan in a second VM with probes",
			"--- auto-repro: reproduced in a second VM with probes (",
			"runnable task stall: ", "event(s) kept:", "enqueue", "select_cpu", "before the exit:", "exit ", "kind=ERROR_STALL",
			"kernel functions the first failure named:", "scx_watchdog_workfn",
		}, check: func(t *testing.T, rec report.Record) {
			a := rec.AutoRepro
			m := stalledRE.FindStringSubmatch(a.Summary)
			if m == nil {
				t.Fatalf("the rerun's failure %q names no stalled task", a.Summary)
			}
			pid, _ := strconv.Atoi(m[1])
			if !slices.Equal(a.Tasks, []int{pid}) {
				t.Errorf("auto-repro tasks %v, want the stalled task %d", a.Tasks, pid)
			}
			var last string
			for _, e := range a.Events {
				if e.PID != pid {
					t.Errorf("event of task %d among the stalled task's: %+v", e.PID, e)
				}
				last = e.Event + " " + e.Detail
			}
			// STALL_DSQ (2) is where the fixture parks user tasks it will
			// never run.
			if !strings.HasPrefix(last, "bpf_dispatch dsq=2 ") {
				t.Errorf("the stalled task's last event is %q, want its dispatch to the fixture's stall DSQ 2", last)
			}
		}},
		// The fixture calls scx_bpf_error in the callback that makes its
		// 300th dispatch: the exit's task, and the events on its CPU just
		// before, are those of that callback.
		{mode: "sched-error", want: []string{
			"--- auto-repro: reproduced in a second VM with probes (",
			"scx_bpf_error: fixture: error after 300 dispatches", "kind=ERROR_BPF", "before the exit:", "event(s) kept:",
		}, check: func(t *testing.T, rec report.Record) {
			a := rec.AutoRepro
			if len(a.Exits) == 0 || len(a.Before) == 0 {
				t.Fatalf("auto-repro: exits %+v, %d event(s) before the exit; want the exit and what ran on its CPU before it", a.Exits, len(a.Before))
			}
			// The callback runs in a task, or in the idle task (from an
			// interrupt), when the task involved is the one the callback
			// was called for.
			if pid := a.Exits[0].PID; (pid != 0 && !slices.Equal(a.Tasks, []int{pid})) || len(a.Tasks) != 1 {
				t.Errorf("auto-repro tasks %v, want one: the exit's task (%d) or, from idle, the callback's", a.Tasks, pid)
			}
			if n := len(a.Before); n > 0 && a.Before[n-1].Rel > 0 {
				t.Errorf("last event before the exit at %v, after it", a.Before[n-1].Rel)
			}
			// The exit's backtrace starts at scx_bpf_error_bstr, then the
			// callback's path (a wakeup's or a dispatch's, whichever made
			// the 300th dispatch): kernel functions every CPU runs, which
			// are probed safely under TCG only with the recipe kernel's
			// stale-INT3 patch; a kernel without says why not.
			if !slices.Contains(a.Probes, "fentry scx_bpf_error_bstr") {
				t.Errorf("scx_bpf_error_bstr, atop the exit's backtrace, not probed: %q", a.Probes)
			}
			generalProbed := slices.ContainsFunc(a.Probes, func(p string) bool {
				fn, ok := strings.CutPrefix(p, "fentry ")
				return ok && !strings.Contains(fn, "scx") && !strings.Contains(fn, "(")
			})
			saidWhy := slices.ContainsFunc(a.Notes, func(n string) bool {
				return strings.HasPrefix(n, "not probed: ") && strings.Contains(n, kernel.StaleInt3Patch)
			})
			if !generalProbed && !saidWhy {
				t.Errorf("no kernel function outside sched_ext from the backtrace probed, nor said why: probes %q, notes %q", a.Probes, a.Notes)
			}
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			results := t.TempDir()
			h := startHelper(t, tc.mode, nil, "KTSTR_RESULTS_DIR="+results)
			code, out := h.wait(10 * time.Minute)
			if code == 0 {
				t.Fatalf("helper passed, want a failure; output:\n%s", out)
			}
			h.checkNothingLeft()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q; output:\n%s", w, out)
				}
			}
			if n := strings.Count(out, " under fixture [profile "); n != 2 {
				t.Errorf("%d VM(s) booted, want the run and its rerun", n)
			}
			// The record keeps the section, events and all; the first
			// run's verdict is its own.
			recs, err := report.Read(results)
			if err != nil || len(recs) != 1 || recs[0].AutoRepro == nil {
				t.Fatalf("records %+v, %v; want one with the auto-repro section", recs, err)
			}
			rec := recs[0]
			if rec.Passed || rec.Kind != ktstr.SchedulerEjected || !rec.AutoRepro.Reproduced || rec.AutoRepro.Total == 0 || len(rec.AutoRepro.Events) == 0 {
				t.Fatalf("record: passed %v, kind %s, auto-repro %+v", rec.Passed, rec.Kind, rec.AutoRepro)
			}
			// Probes stay attached until the guest powers off (see
			// probe.PinDir).
			if i := slices.IndexFunc(rec.AutoRepro.Notes, func(n string) bool { return strings.Contains(n, "not pinned") }); i >= 0 {
				t.Errorf("auto-repro: %s", rec.AutoRepro.Notes[i])
			}
			t.Logf("auto-repro rerun %.1fs, %d events recorded, %d lost, %d probe(s)", rec.AutoRepro.Duration.Seconds(), rec.AutoRepro.Total, rec.AutoRepro.Lost, len(rec.AutoRepro.Probes))
			tc.check(t, rec)
		})
	}
	for _, tc := range []struct {
		mode string
		pass bool
	}{
		{"sched-stall-expect-err", true}, // ExpectErr turns auto-repro off
		{"sched-stall-off", false},       // AutoRepro: ktstr.Off
		{"sched-pass", true},             // nothing to reproduce
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			h := startHelper(t, tc.mode, nil)
			code, out := h.wait(10 * time.Minute)
			if (code == 0) != tc.pass {
				t.Fatalf("exit code %d, want pass=%v; output:\n%s", code, tc.pass, out)
			}
			h.checkNothingLeft()
			if n := strings.Count(out, " under fixture [profile "); n != 1 || strings.Contains(out, "auto-repro") {
				t.Errorf("%d VM(s) booted, want one and no auto-repro; output:\n%s", n, out)
			}
		})
	}
}
