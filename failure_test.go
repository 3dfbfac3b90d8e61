package ktstr_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/report"
	"github.com/ktstr-go/ktstr/vm"
)

// helperEnv marks a subprocess started by the failure-mode tests.
const helperEnv = "KTSTR_HELPER_ID"

// TestHelperFailure is not a test on its own: the failure-mode tests run it
// in a subprocess, one subtest per mode, and check what the user sees.
func TestHelperFailure(t *testing.T) {
	if os.Getenv(helperEnv) == "" && !ktstr.InGuest() {
		t.Skip("helper: run in a subprocess by TestFailureModes and TestCleanup")
	}
	short := ktstr.Test{MemoryMB: 256, DurationS: 1}
	type mode struct {
		test ktstr.Test
		fn   ktstr.Func
	}
	hang := func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		ctx.Logf("sleeping")
		time.Sleep(10 * time.Minute)
		return ktstr.Pass(), nil
	}
	modes := map[string]mode{
		"panic": {short, func(*ktstr.Ctx) (ktstr.AssertResult, error) { panic("boom in the test function") }},
		"goroutine-panic": {short, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			go func() { panic("boom in a goroutine") }()
			time.Sleep(time.Minute)
			return ktstr.Pass(), nil
		}},
		"kernel-panic": {short, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.Pass(), os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
		}},
		"error": {short, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.Pass(), errors.New("the function gave up")
		}},
		"fail":  {short, func(*ktstr.Ctx) (ktstr.AssertResult, error) { return ktstr.Fail("custom check failed: 3 > 2"), nil }},
		"sleep": {short, hang},
		// The test function forges a done frame saying all is well, then
		// fails: init refuses to forward it, and the run is a harness
		// failure, never a pass.
		"forge-done": {short, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			f := os.NewFile(uintptr(proto.ChildFD), "forged")
			if err := proto.NewWriter(f).Send(proto.TypeDone, proto.Done{}); err != nil {
				return ktstr.AssertResult{}, err
			}
			return ktstr.Pass(), nil
		}},
		"expect-err-but-pass": {ktstr.Test{MemoryMB: 256, ExpectErr: true}, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.Pass(), nil
		}},
		// ExpectErr accepts only verdicts about the system under test: a
		// hang, a kernel panic or a harness error still fail.
		"expect-err-hang": {ktstr.Test{MemoryMB: 256, DurationS: 1, ExpectErr: true}, hang},
		"expect-err-kernel-panic": {ktstr.Test{MemoryMB: 256, DurationS: 1, ExpectErr: true}, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.Pass(), os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
		}},
		"expect-kernel-panic": {ktstr.Test{MemoryMB: 256, DurationS: 1, ExpectFailure: ktstr.ExpectKind(ktstr.KernelPanic)}, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
			return ktstr.Pass(), os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
		}},
		"expect-err-harness":     {ktstr.Test{MemoryMB: 256, ExpectErr: true}, sleepFor},
		"expect-wrong-check":     {ktstr.Test{MemoryMB: 256, ExpectFailure: ktstr.ExpectCheck("gap")}, func(*ktstr.Ctx) (ktstr.AssertResult, error) { return ktstr.Fail("not a gap"), nil }},
		"sched-stall":            {ktstr.Test{Scheduler: withArgs(fixture, "--stall-after", "300"), MemoryMB: 512, DurationS: 8}, sleepFor},
		"sched-error":            {ktstr.Test{Scheduler: withArgs(fixture, "--error-after", "300"), MemoryMB: 512}, sleepFor},
		"sched-stall-expect-err": {ktstr.Test{Scheduler: withArgs(fixture, "--stall-after", "300"), MemoryMB: 512, DurationS: 8, ExpectErr: true}, sleepFor},
		"sched-stall-off":        {ktstr.Test{Scheduler: withArgs(fixture, "--stall-after", "300"), MemoryMB: 512, DurationS: 8, AutoRepro: ktstr.Off}, sleepFor},
		"sched-pass":             {ktstr.Test{Scheduler: &fixture, MemoryMB: 512}, sleepFor},
		"perf-1vcpu":             {ktstr.Test{PerformanceMode: true, LLCs: 1, Cores: 1, MemoryMB: 256, DurationS: 3}, sleepFor},
		"html-eevdf":             {ktstr.Test{LLCs: 1, Cores: 2, MemoryMB: 512, DurationS: 2}, htmlWorkload},
		"html-fixture":           {ktstr.Test{Scheduler: &fixture, LLCs: 1, Cores: 2, MemoryMB: 512, DurationS: 2}, htmlWorkload},
		"perf-too-big":           {ktstr.Test{PerformanceMode: true, LLCs: 1, Cores: 64, MemoryMB: 256}, sleepFor},
		"sched-error-on-exit":    {ktstr.Test{Scheduler: withArgs(fixture, "--error-on-exit"), MemoryMB: 512}, sleepFor},
		"sched-exits":            {ktstr.Test{Scheduler: withArgs(fixture, "--no-such-flag"), MemoryMB: 512}, sleepFor},
		"sched-never-attaches": {ktstr.Test{Scheduler: &ktstr.Scheduler{Name: "tail", Binary: ktstr.Path(hostPath("tail")),
			SchedArgs: []string{"-f", "/dev/null"}}, MemoryMB: 512}, sleepFor},
		"sched-missing": {ktstr.Test{Scheduler: &ktstr.Scheduler{Name: "nope", Binary: ktstr.Discover("scx_does_not_exist")}}, sleepFor},
		"replicas": {ktstr.Test{MemoryMB: 256, Replicas: 3}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
			ctx.Logf("replica %d of 3", ctx.Replica+1)
			return ktstr.Pass(), nil
		}},
		// A small gauntlet: of the presets only tiny-1llc and tiny-2llc
		// have at most 4 CPUs and 2 LLCs; of the fixture's profiles,
		// default and verbose remain without degrade (harsh needs it).
		"gauntlet-small": {ktstr.Test{Scheduler: &fixture, MaxLLCs: 2, MaxCPUs: 4, ExcludedFlags: []ktstr.FlagName{"degrade"},
			DurationS: 1, MemoryMB: 512}, sleepFor},
		// One preset (tiny-1llc), EEVDF: with two kernels, two variants.
		"gauntlet-kernels": {ktstr.Test{MaxLLCs: 1, MaxCPUs: 4, DurationS: 1, MemoryMB: 256}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
			raw, _ := os.ReadFile("/proc/version")
			ctx.Logf("kernel: %s", strings.TrimSpace(string(raw)))
			return ktstr.Pass(), nil
		}},
		"pass": {ktstr.Test{MemoryMB: 256}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
			ctx.Logf("passing run in %s", ctx.Shape)
			return ktstr.Pass(), nil
		}},
	}
	for name, m := range modes {
		t.Run(name, func(t *testing.T) {
			ktstr.Run(t, m.test, m.fn)
		})
	}
}

// helper is one subprocess run of TestHelperFailure.
type helper struct {
	t      *testing.T
	id     string
	tmp    string
	cmd    *exec.Cmd
	output *strings.Builder
	lines  chan string
}

func startHelper(t *testing.T, mode string, args []string, env ...string) *helper {
	t.Helper()
	h := &helper{t: t, id: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()), tmp: t.TempDir(), output: &strings.Builder{}, lines: make(chan string, 1000)}
	h.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperFailure$/^" + mode + "$", "-test.v", "-test.count=1"}, args...)...)
	h.cmd.Env = append(os.Environ(), append(env, helperEnv+"="+h.id, "TMPDIR="+h.tmp)...)
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.cmd.Stderr = h.cmd.Stdout
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.output.WriteString(sc.Text() + "\n")
			select {
			case h.lines <- sc.Text():
			default:
			}
		}
		close(h.lines)
	}()
	return h
}

// waitFor waits until the helper prints a line containing s.
func (h *helper) waitFor(s string, limit time.Duration) {
	h.t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("helper exited before printing %q", s)
			}
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			h.t.Fatalf("helper did not print %q within %s", s, limit)
		}
	}
}

// wait waits for the helper to exit and returns its exit code and output.
func (h *helper) wait(limit time.Duration) (int, string) {
	h.t.Helper()
	done := make(chan error, 1)
	go func() {
		for range h.lines {
		}
		done <- h.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		h.t.Fatalf("helper did not exit within %s", limit)
	}
	return h.cmd.ProcessState.ExitCode(), h.output.String()
}

// checkNothingLeft fails if a process the helper started still runs or the
// helper left files in its TMPDIR.
func (h *helper) checkNothingLeft() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processesWithEnv(helperEnv + "=" + h.id)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			h.t.Errorf("processes outlived the run: %v", left)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	entries, err := os.ReadDir(h.tmp)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range entries {
		h.t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
}

// processesWithEnv lists the live processes whose environment holds kv.
func processesWithEnv(kv string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(d + "/environ")
		if err != nil {
			continue
		}
		for _, e := range strings.Split(string(env), "\x00") {
			if e == kv {
				comm, _ := os.ReadFile(d + "/comm")
				pid, _ := strconv.Atoi(filepath.Base(d))
				found = append(found, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(comm))))
			}
		}
	}
	return found
}

// TestQEMUCrash: QEMU crashing on its own (here a stand-in that fails an
// assertion and aborts, as QEMU 7.2 once did in msix_table_mmio_write) is
// a fault of the VMM: the run boots once more and passes; crashing again,
// it is a harness error saying so, never a verdict on the guest.
func TestQEMUCrash(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if q := os.Getenv("KTSTR_QEMU"); q != "" {
		qemu = q
	}
	const assertion = "qemu-system-x86_64: ../hw/pci/msix.c:227: msix_table_mmio_write: Assertion `addr < vdev->msix_entries_nr * PCI_MSIX_ENTRY_SIZE' failed."
	for _, tc := range []struct {
		name  string
		times int // crashes before QEMU runs
		pass  bool
	}{{"once", 1, true}, {"twice", 2, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			wrapper := filepath.Join(dir, "qemu")
			script := fmt.Sprintf("#!/bin/sh\nn=$(cat %[1]s/n 2>/dev/null || echo 0)\nif [ \"$n\" -lt %[2]d ]; then echo $((n+1)) > %[1]s/n; echo \"%[3]s\" >&2; kill -ABRT $$; fi\nexec %[4]s \"$@\"\n",
				dir, tc.times, strings.ReplaceAll(assertion, "`", "\\`"), qemu)
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			h := startHelper(t, "pass", nil, "KTSTR_QEMU="+wrapper)
			code, out := h.wait(5 * time.Minute)
			h.checkNothingLeft()
			if (code == 0) != tc.pass {
				t.Fatalf("exit code %d, want pass=%v; output:\n%s", code, tc.pass, out)
			}
			retry := "ktstr: QEMU crashed (an assertion of its own failed: " + assertion + "); booting the same plan once more"
			if n := strings.Count(out, retry); n != 1 {
				t.Errorf("%d retry line(s), want 1 %q; output:\n%s", n, retry, out)
			}
			if !tc.pass && !strings.Contains(out, "harness-error: QEMU crashed (an assertion of its own failed): a fault of the VMM, not of the guest or the scheduler: "+assertion) {
				t.Errorf("a second crash is not a harness error saying so; output:\n%s", out)
			}
		})
	}
}

// TestFailureModes checks that each way a guest can fail becomes a clear
// host-side failure with the relevant output, and leaves nothing behind.
// It is not parallel at the top level, so its helpers' VMs only wait for
// each other's slots, not for the whole package's.
func TestFailureModes(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	accel, err := vm.ChooseAccel(os.Getenv("KTSTR_ACCEL"))
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in QEMU that fails at once: a harness error, not a verdict.
	badQEMU := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(badQEMU, []byte("#!/bin/sh\necho 'qemu: simulated start failure' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode   string
		env    []string
		want   []string
		absent []string // e.g. signs that a VM booted
	}{
		{mode: "panic", want: []string{"test-panic: test function panicked: boom in the test function", "failure_test.go"}},
		{mode: "goroutine-panic", want: []string{"test-panic: test process panicked before reporting a result", "panic: boom in a goroutine"}},
		{mode: "kernel-panic", want: []string{"kernel-panic: guest kernel panic: Kernel panic - not syncing: sysrq triggered crash", "guest console"}},
		{mode: "error", want: []string{"test-error: test function returned an error: the function gave up"}},
		{mode: "fail", want: []string{"check-failed: FAIL: 1 check(s) failed", "[custom] custom check failed: 3 > 2"}},
		{mode: "forge-done", want: []string{"harness-error: results from the test process cannot be trusted", `a "done" frame, which only init may send`}},
		{mode: "expect-err-hang", env: []string{"KTSTR_TIMEOUT=20s"}, want: []string{"ExpectErr: want a failure of the system under test", "but the run failed otherwise: guest-hang"}},
		{mode: "expect-err-kernel-panic", want: []string{"ExpectErr: want a failure of the system under test", "but the run failed otherwise: kernel-panic"}},
		{mode: "expect-err-harness", env: []string{"KTSTR_QEMU=" + badQEMU}, want: []string{"but the run failed otherwise: harness-error: QEMU exited with status 1", "simulated start failure"}},
		{mode: "expect-wrong-check", want: []string{`ExpectErr: want a check-failed failure of check "gap", but the run failed otherwise: check-failed`}},
		{mode: "sched-stall", env: []string{noRepro}, want: []string{"scheduler-ejected: scheduler fixture failed during the test", "kernel: sched_ext disabled it (runnable task stall: ", "] failed to run for ", "scheduler fixture log (last lines):", "scx_fixture: attached"},
			absent: []string{"watchdog failed to check in", "auto-repro"}},
		{mode: "sched-error", env: []string{noRepro}, absent: []string{"auto-repro"}, want: []string{"scheduler-ejected: scheduler fixture failed during the test", "kernel: sched_ext disabled it (scx_bpf_error: fixture: error after 300 dispatches)"}},
		{mode: "sched-error-on-exit", env: []string{noRepro}, absent: []string{"auto-repro"}, want: []string{"scheduler-ejected: scheduler fixture was disabled by the kernel at the end of the test", "(scx_bpf_error: fixture: error on exit)"}},
		{mode: "sched-exits", want: []string{"scheduler-start-failed: scheduler fixture exited with status 2 before sched_ext enabled it", "flag provided but not defined: -no-such-flag"}},
		{mode: "sched-never-attaches", want: []string{`scheduler-not-attached: scheduler tail did not attach: it is running but sched_ext still reads "disabled" after`}},
		{mode: "sched-missing", want: []string{"scheduler nope: scheduler binary not found", "scx_does_not_exist"}, absent: []string{"boot to test function", "accel"}},
		{mode: "sleep", env: []string{"KTSTR_TIMEOUT=20s"}, want: []string{"guest-hang: guest did not finish: killed after the host-side 20s limit (tcg, 2 vCPU(s)"}},
		// An invalid setting is a mistake to fix, not a reason to skip,
		// with or without CI.
		{mode: "pass", env: []string{"CI=", "KTSTR_TIMEOUT=abc"}, want: []string{`KTSTR_TIMEOUT="abc": not a positive duration`}, absent: []string{"SKIP", "boot to test function"}},
		{mode: "pass", env: []string{"CI=", "KTSTR_ACCEL=kvmm"}, want: []string{`KTSTR_ACCEL="kvmm": not an accelerator`}, absent: []string{"SKIP"}},
		{mode: "pass", env: []string{"CI=", "KTSTR_KERNEL=/nonexistent"}, want: []string{`KTSTR_KERNEL="/nonexistent"`}, absent: []string{"SKIP"}},
		{mode: "pass", env: []string{"CI=", "KTSTR_JOBS=abc"}, want: []string{`KTSTR_JOBS="abc": not a whole number`}, absent: []string{"SKIP"}},
	} {
		t.Run(tc.mode+strings.Join(tc.env, ","), func(t *testing.T) {
			t.Parallel()
			h := startHelper(t, tc.mode, nil, tc.env...)
			code, out := h.wait(10 * time.Minute)
			if code == 0 {
				t.Fatalf("helper passed, want a failure; output:\n%s", out)
			}
			for _, w := range tc.want {
				w = strings.Replace(w, "(tcg,", "("+string(accel.Accel)+",", 1)
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q; output:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q; output:\n%s", a, out)
				}
			}
			h.checkNothingLeft()
		})
	}
}

// TestGoTestFlags: -count=2 runs a VM test twice (the Run calls of each
// iteration are numbered afresh, as in the guest), and -short skips it.
func TestGoTestFlags(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	t.Run("count", func(t *testing.T) {
		results := t.TempDir()
		h := startHelper(t, "pass", []string{"-test.count=2"}, "KTSTR_RESULTS_DIR="+results)
		code, out := h.wait(10 * time.Minute)
		if code != 0 || strings.Count(out, "--- PASS: TestHelperFailure/pass") != 2 || strings.Count(out, "guest: passing run") != 2 {
			t.Errorf("exit code %d, want two passing iterations; output:\n%s", code, out)
		}
		h.checkNothingLeft()
		// One record per iteration, each with the kernel it booted.
		recs, err := report.Read(results)
		if err != nil || len(recs) != 2 || recs[0].Iteration != 0 || recs[1].Iteration != 1 || !recs[1].Passed || recs[0].Kernel == "" {
			t.Errorf("records: %+v, %v; want one per iteration", recs, err)
		}
	})
	t.Run("artifacts", func(t *testing.T) {
		out := t.TempDir()
		h := startHelper(t, "fail", []string{"-test.artifacts", "-test.outputdir=" + out})
		if code, output := h.wait(10 * time.Minute); code == 0 {
			t.Fatalf("helper passed; output:\n%s", output)
		}
		h.checkNothingLeft()
		var found []string
		_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".json") {
				found = append(found, p)
			}
			return nil
		})
		if len(found) != 1 {
			t.Fatalf("want one record in the artifact directory, found %v", found)
		}
		raw, _ := os.ReadFile(found[0])
		if !strings.Contains(string(raw), `"kind": "check-failed"`) {
			t.Errorf("record lacks the failure kind:\n%s", raw)
		}
	})
	t.Run("short", func(t *testing.T) {
		h := startHelper(t, "pass", []string{"-test.short"})
		code, out := h.wait(time.Minute)
		if code != 0 || !strings.Contains(out, "--- SKIP: TestHelperFailure/pass") || !strings.Contains(out, "-short") || strings.Contains(out, "boot to test function") {
			t.Errorf("exit code %d, want a skip saying -short; output:\n%s", code, out)
		}
		h.checkNothingLeft()
	})
}

// hostPath is the path of a host command, or "" (inside the guest, where
// only the host's choice matters).
func hostPath(name string) string {
	p, _ := exec.LookPath(name)
	return p
}

// withArgs returns a copy of s with SchedArgs args.
func withArgs(s ktstr.Scheduler, args ...string) *ktstr.Scheduler {
	s.SchedArgs = args
	return &s
}

// TestCleanup interrupts runs the way a user or go test does and checks that
// no QEMU process, temp file or directory survives. Its subtests run one
// after the other, before the parallel VM tests start, so their helper VMs
// never wait for a VM slot (the timeouts they exercise start before that).
func TestCleanup(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	t.Run("ctrl-c", func(t *testing.T) {
		h := startHelper(t, "sleep", nil)
		h.waitFor("guest: sleeping", 2*time.Minute)
		if n := len(processesWithEnv(helperEnv + "=" + h.id)); n < 2 {
			t.Fatalf("want the helper and its QEMU running, found %d processes", n)
		}
		// A terminal's Ctrl-C signals the whole foreground process group.
		if err := syscall.Kill(-h.cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		code, out := h.wait(30 * time.Second)
		if code != 130 || !strings.Contains(out, "stopped 1 VM(s)") {
			t.Errorf("exit code %d, want 130 with a note of the stopped VM; output:\n%s", code, out)
		}
		h.checkNothingLeft()
	})
	t.Run("go-test-timeout", func(t *testing.T) {
		// 60s leaves room for a wait for a VM slot held by another package's test.
		h := startHelper(t, "sleep", []string{"-test.timeout=60s"})
		code, out := h.wait(2 * time.Minute)
		// The guest was running when the limit came: this is the VM being
		// stopped, not a wait for one.
		if code == 0 || !strings.Contains(out, "guest: sleeping") || !strings.Contains(out, "go test -timeout is about to expire") {
			t.Errorf("exit code %d, want a failure naming the go test timeout; output:\n%s", code, out)
		}
		h.checkNothingLeft()
	})
}
