package ktstr_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/report"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

// TestPerformanceMode runs the same healthy 1-vCPU test without and with
// performance mode and logs both runs' fairness spread and p99 wake
// latency side by side. With it, the vCPU thread must be pinned to its
// host CPU at SCHED_FIFO 1 and QEMU's other threads to the service CPU at
// SCHED_FIFO 2, as read back from /proc on the host while the VM ran; and,
// with hugepages reserved for it, guest RAM comes from them.
func TestPerformanceMode(t *testing.T) {
	fn := func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		return ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "pipes", Workers: 2, Work: workload.PipeIo()})
	}
	var figures []string
	for _, perf := range []bool{false, true} {
		t.Run(fmt.Sprintf("performance=%v", perf), func(t *testing.T) {
			if perf && !ktstr.InGuest() {
				reserveHugepages(t, 128) // 256 MB
			}
			o := ktstr.RunOutcome(t, ktstr.Test{PerformanceMode: perf, LLCs: 1, Cores: 1, MemoryMB: 256, DurationS: 4}, fn)
			if ktstr.InGuest() {
				return
			}
			if f := o.Failure(); f != nil {
				t.Fatalf("%v", f)
			}
			var r verify.Result
			if o.Result == nil || json.Unmarshal(o.Result.Assert, &r) != nil || len(r.Cgroups) != 1 {
				t.Fatalf("no cgroup statistics in the result")
			}
			cg := r.Cgroups[0]
			figures = append(figures, fmt.Sprintf("performance mode %-5v: spread %5.2f%%, p99 wake latency %s", perf, cg.SpreadPct, time.Duration(cg.P99WakeNs)))
			if !perf {
				if o.Pinned != nil {
					t.Errorf("a run without performance mode was pinned: %+v", o.Pinned)
				}
				return
			}
			pin, pl := o.Pinned, o.Placement
			if pin == nil || pl == nil || len(pin.VCPUs) != 1 || len(pin.Service) == 0 {
				t.Fatalf("performance mode: placement %+v, pinned %+v", pl, pin)
			}
			v := pin.VCPUs[0]
			if v.Allowed != strconv.Itoa(pl.VCPUs[0]) || v.Policy != "fifo" || v.Priority != 1 {
				t.Errorf("vCPU thread %s, want on CPU %d at fifo 1", v, pl.VCPUs[0])
			}
			for _, s := range pin.Service {
				if s.Allowed != strconv.Itoa(pl.Service) || s.Policy != "fifo" || s.Priority != 2 {
					t.Errorf("QEMU service thread %s, want on CPU %d at fifo 2", s, pl.Service)
				}
			}
			if !pin.Hugepages {
				t.Errorf("guest RAM not from hugepages: %q", append(pl.Notes, pin.Warnings...))
			}
		})
	}
	if len(figures) == 2 {
		t.Logf("the same test, side by side:\n\t%s\n\t%s", figures[0], figures[1])
	}
}

// reserveHugepages makes n more 2 MiB hugepages free for the test, and
// gives them back after it; it skips when the host will not.
func reserveHugepages(t *testing.T, n int) {
	t.Helper()
	const path = "/proc/sys/vm/nr_hugepages"
	const free = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
	read := func(p string) int {
		b, _ := os.ReadFile(p)
		v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return v
	}
	before := read(path)
	if read(free) >= n {
		return
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(before+n)), 0); err != nil || read(free) < n {
		os.WriteFile(path, []byte(strconv.Itoa(before)), 0)
		t.Skipf("cannot reserve %d hugepages (%v): performance mode would run with normal pages", n, err)
	}
	t.Cleanup(func() { os.WriteFile(path, []byte(strconv.Itoa(before)), 0) })
}

// TestPerformanceModeExclusive: two performance-mode VMs that both need
// every CPU of this 2-CPU host (one vCPU and the service CPU) start at
// once, with two VM slots: one waits for the other's CPUs, and their runs
// never overlap.
func TestPerformanceModeExclusive(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	if n := len(hostCPUList(t)); n != 2 {
		t.Skipf("written for a 2-CPU host (this one has %d): each VM takes both", n)
	}
	var hs []*helper
	var dirs []string
	for range 2 {
		dirs = append(dirs, t.TempDir())
		hs = append(hs, startHelper(t, "perf-1vcpu", nil, "KTSTR_JOBS=2", "KTSTR_RESULTS_DIR="+dirs[len(dirs)-1]))
	}
	var outs []string
	for _, h := range hs {
		code, out := h.wait(10 * time.Minute)
		if code != 0 {
			t.Fatalf("helper failed; output:\n%s", out)
		}
		h.checkNothingLeft()
		outs = append(outs, out)
	}
	var recs []report.Record
	for _, d := range dirs {
		r, err := report.Read(d)
		if err != nil || len(r) != 1 || r[0].Performance == nil {
			t.Fatalf("records %+v, %v; want one with performance mode", r, err)
		}
		recs = append(recs, r[0])
	}
	a, b := recs[0].Performance, recs[1].Performance
	if a.HeldFrom.After(b.HeldFrom) {
		a, b = b, a
	}
	if a.HeldFrom.IsZero() || a.HeldUntil.After(b.HeldFrom) {
		t.Errorf("the VMs held the CPUs at once: one %s to %s, the other from %s", a.HeldFrom.Format(time.StampMilli), a.HeldUntil.Format(time.StampMilli), b.HeldFrom.Format(time.StampMilli))
	}
	if !strings.Contains(outs[0]+outs[1], "performance mode: waiting for host CPU(s) 0-1, held by another VM") {
		t.Errorf("neither run said it waited for the other's CPUs:\n%s\n%s", outs[0], outs[1])
	}
}

func hostCPUList(t *testing.T) []string {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "0-1" {
		return []string{"0", "1"}
	}
	return strings.Split(s, ",")
}

// TestPerformanceModeSkips: a host with fewer CPUs than vCPUs + 1 skips a
// performance-mode test, saying why, even under CI=true; only a host
// declared meant for it (KTSTR_PERF_REQUIRED=1) fails it.
func TestPerformanceModeSkips(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	if n := len(hostCPUList(t)); n > 64 {
		t.Skipf("this host has %d CPUs: a 64-vCPU guest fits", n)
	}
	reason := "performance mode: 64 vCPUs need 65 host CPUs (one each, and a service CPU); this host has"
	h := startHelper(t, "perf-too-big", nil, "CI=true")
	code, out := h.wait(2 * time.Minute)
	if code != 0 || !strings.Contains(out, "--- SKIP: TestHelperFailure/perf-too-big") || !strings.Contains(out, reason) || strings.Contains(out, "boot to test function") {
		t.Errorf("exit code %d, want a skip giving the reason; output:\n%s", code, out)
	}
	h = startHelper(t, "perf-too-big", nil, "CI=true", "KTSTR_PERF_REQUIRED=1")
	code, out = h.wait(2 * time.Minute)
	if code == 0 || !strings.Contains(out, reason) || !strings.Contains(out, "KTSTR_PERF_REQUIRED=1: this host is meant to run performance mode") {
		t.Errorf("exit code %d, want a failure with KTSTR_PERF_REQUIRED=1; output:\n%s", code, out)
	}
}
