package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/budget"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/verdict"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/vm"
)

// frame is one frame of a made-up results stream.
type frame struct {
	typ string
	v   any
}

// stream encodes frames as the guest would write them.
func stream(t *testing.T, frames ...frame) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	w := proto.NewWriter(&b)
	for _, f := range frames {
		if err := w.Send(f.typ, f.v); err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

func passResult(t *testing.T) proto.Result {
	raw, err := json.Marshal(verify.Pass())
	if err != nil {
		t.Fatal(err)
	}
	return proto.Result{Assert: raw}
}

func outcomeOf(t *testing.T, vmr vm.Result, frames ...frame) *Outcome {
	t.Helper()
	o := newOutcome(proto.KindTest, budget.New(budget.Input{Accel: "tcg", VCPUs: 2, HostCPUs: 2, Duration: time.Second}), vm.TCG, 2)
	o.readFrames(stream(t, frames...), nil)
	o.VM = vmr
	return o
}

func TestFailure(t *testing.T) {
	hello := frame{proto.TypeHello, proto.Hello{}}
	done := frame{proto.TypeDone, proto.Done{}}
	result := frame{proto.TypeResult, passResult(t)}
	failed, _ := json.Marshal(verify.Fail("3 > 2"))
	console := []string{"[ 1.0] boot", "[ 2.0] Kernel panic - not syncing: sysrq triggered crash", "[ 2.1] ---[ end"}
	for _, tc := range []struct {
		name   string
		vm     vm.Result
		frames []frame
		kind   verdict.Kind // "" for a pass
		msg    string
	}{
		{"pass", vm.Result{}, []frame{hello, result, done}, "", ""},
		{"check failed", vm.Result{}, []frame{hello, {proto.TypeResult, proto.Result{Assert: failed}}, done}, verdict.CheckFailed, "3 > 2"},
		{"test error", vm.Result{}, []frame{hello, {proto.TypeResult, proto.Result{Err: "gave up"}}, done}, verdict.TestError, "gave up"},
		{"test panic", vm.Result{}, []frame{hello, {proto.TypeResult, proto.Result{Panic: "boom\nstack"}}, done}, verdict.TestPanic, "boom"},
		{"guest failure", vm.Result{}, []frame{hello, {proto.TypeDone, proto.Done{Failure: verdict.New(verdict.SchedulerDied, "scheduler died")}}}, verdict.SchedulerDied, "scheduler died"},
		{"kernel panic", vm.Result{Console: console}, []frame{hello}, verdict.KernelPanic, "Kernel panic - not syncing: sysrq triggered crash"},
		// A panic or a kill after Done is still a failure: Done was not the
		// end of the story.
		{"panic after done", vm.Result{Console: console}, []frame{hello, result, done}, verdict.KernelPanic, "after the guest reported done"},
		{"killed after done", vm.Result{Killed: "timeout after 1m0s", TimedOut: true, ExitCode: -1}, []frame{hello, result, done}, verdict.GuestHang, "did not power off"},
		{"timeout", vm.Result{Killed: "timeout after 1m0s", TimedOut: true, ExitCode: -1}, []frame{hello}, verdict.GuestHang, "host-side"},
		{"canceled", vm.Result{Killed: "canceled: go test -timeout is about to expire", ExitCode: -1}, []frame{hello}, verdict.HarnessError, "go test -timeout"},
		{"qemu", vm.Result{ExitCode: 1, Stderr: []string{"qemu: bad option"}}, nil, verdict.HarnessError, "QEMU exited with status 1: qemu: bad option"},
		{"qemu assertion", vm.Result{ExitCode: -1, Stderr: []string{"qemu: ../hw/pci/msix.c:227: msix_table_mmio_write: Assertion `a' failed."}}, []frame{hello}, verdict.HarnessError, "QEMU crashed (an assertion of its own failed): a fault of the VMM"},
		{"qemu signal", vm.Result{ExitCode: -1}, []frame{hello}, verdict.HarnessError, "QEMU crashed (killed by a signal the harness did not send)"},
		{"qemu killed by the harness", vm.Result{ExitCode: -1, Killed: "canceled: interrupted"}, []frame{hello}, verdict.HarnessError, "VM killed: canceled"},
		{"silent", vm.Result{}, nil, verdict.HarnessError, "without reporting done"},
		{"no result", vm.Result{}, []frame{hello, done}, verdict.HarnessError, "without the test function's result"},
		// Only well-formed done frames count: {"failure":1} used to pass.
		{"undecodable done", vm.Result{}, []frame{hello, result, {proto.TypeDone, map[string]any{"failure": 1}}}, verdict.HarnessError, "cannot be trusted"},
		{"unknown failure kind", vm.Result{}, []frame{hello, result, {proto.TypeDone, map[string]any{"failure": map[string]any{"kind": "fine", "summary": "x"}}}}, verdict.HarnessError, "cannot be trusted"},
		{"failure without summary", vm.Result{}, []frame{hello, result, {proto.TypeDone, map[string]any{"failure": map[string]any{"kind": "test-error"}}}}, verdict.HarnessError, "without a summary"},
		{"frame after done", vm.Result{}, []frame{hello, done, result}, verdict.HarnessError, `"result" frame after the done frame`},
		{"second result", vm.Result{}, []frame{hello, result, result, done}, verdict.HarnessError, `a second "result" frame`},
		{"second done", vm.Result{}, []frame{hello, result, done, done}, verdict.HarnessError, "after the done frame"},
		{"before hello", vm.Result{}, []frame{result, done}, verdict.HarnessError, "before the hello frame"},
		{"unknown type", vm.Result{}, []frame{hello, {"bogus", 1}, result, done}, verdict.HarnessError, `unknown type "bogus"`},
		{"dropped by init", vm.Result{}, []frame{hello, result, {proto.TypeDone, proto.Done{Dropped: 2}}}, verdict.HarnessError, "dropped 2 frame(s)"},
		{"passed with failures", vm.Result{}, []frame{hello, {proto.TypeResult, proto.Result{Assert: []byte(`{"passed":true,"failures":[{"check":"gap","message":"x","worker":0}]}`)}}, done}, verdict.HarnessError, "says it passed"},
		{"neither", vm.Result{}, []frame{hello, {proto.TypeResult, proto.Result{Assert: []byte(`{"passed":false}`)}}, done}, verdict.TestError, "neither passed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := outcomeOf(t, tc.vm, tc.frames...).Failure()
			if tc.kind == "" {
				if f != nil {
					t.Fatalf("Failure = %v, want a pass", f)
				}
				return
			}
			if f == nil || f.Kind != tc.kind || !strings.Contains(f.Summary, tc.msg) {
				t.Fatalf("Failure = %v, want %s containing %q", f, tc.kind, tc.msg)
			}
			if !errors.Is(f, tc.kind) {
				t.Errorf("errors.Is(failure, %s) = false", tc.kind)
			}
		})
	}
}

// A corrupt frame makes the whole channel untrusted, even with a Done that
// says all is well.
func TestCorruptFrame(t *testing.T) {
	var b bytes.Buffer
	w := proto.NewWriter(&b)
	_ = w.Send(proto.TypeHello, proto.Hello{})
	_ = w.Send(proto.TypeResult, passResult(t))
	b.WriteString("@ktstr1 5 00000000 {}xx\n")
	_ = w.Send(proto.TypeDone, proto.Done{})
	o := newOutcome(proto.KindTest, budget.Budget{}, vm.TCG, 2)
	o.readFrames(&b, nil)
	if f := o.Failure(); f == nil || f.Kind != verdict.HarnessError || o.FrameErrs != 1 {
		t.Fatalf("Failure = %v (%d bad frames), want a harness error", f, o.FrameErrs)
	}
}

// Log frames are kept within a bound whatever the guest sends.
func TestLogsBounded(t *testing.T) {
	frames := []frame{{proto.TypeHello, proto.Hello{}}}
	for i := 0; i < 3*keptLogs; i++ {
		frames = append(frames, frame{proto.TypeLog, proto.Log{Msg: fmt.Sprint(i)}})
	}
	o := outcomeOf(t, vm.Result{}, frames...)
	l := o.Logs.Lines()
	if len(l) != keptLogs || l[len(l)-1] != fmt.Sprint(3*keptLogs-1) || o.Logs.Added() != 3*keptLogs {
		t.Fatalf("kept %d logs (last %q, %d added)", len(l), l[len(l)-1], o.Logs.Added())
	}
}

func TestFailureFormat(t *testing.T) {
	var console []string
	for i := 0; i < 100; i++ {
		console = append(console, fmt.Sprintf("line %d", i))
	}
	o := outcomeOf(t, vm.Result{Killed: "timeout after 1m0s", TimedOut: true, Console: console, Command: "qemu-system-x86_64 -m 1"}, frame{proto.TypeHello, proto.Hello{}})
	e := o.Failure()
	short := fmt.Sprintf("%v", e)
	if !strings.Contains(short, "line 99") || strings.Contains(short, "line 59\n") || strings.Contains(short, "QEMU command") {
		t.Errorf("%%v should show the last 40 console lines only:\n%s", short)
	}
	long := fmt.Sprintf("%+v", e)
	if !strings.Contains(long, "line 0\n") || !strings.Contains(long, "qemu-system-x86_64 -m 1") {
		t.Errorf("%%+v should show the whole tail and the command:\n%s", long)
	}
}

// An archive remembered by this process but deleted from the cache since
// (pruned, or removed by another process) is built again: before, every
// later VM of the process failed on the missing file.
func TestCachedArchiveRebuilt(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	dir := t.TempDir()
	host := dir + "/payload"
	if err := os.WriteFile(host, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []plan.File{{Guest: "/payload", Host: host}}
	p1, err := cachedArchive(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p1); err != nil {
		t.Fatal(err)
	}
	p2, err := cachedArchive(files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p2); err != nil {
		t.Fatalf("the archive was not rebuilt: %v", err)
	}
}

// TestKernelPanicOops: a panic's failure names the oops that led to it, with
// the faulting instruction, and keeps the oops as its evidence; an earlier,
// unrelated warning is not taken for its start.
func TestKernelPanicOops(t *testing.T) {
	console := []string{
		"[    1.000000] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 foo+0x1/0x2",
		"[    2.000000] boot done",
		"[    3.210000] BUG: kernel NULL pointer dereference, address: 0000000000000010",
		"[    3.210001] #PF: supervisor read access in kernel mode",
		"[    3.210002] Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
		"[    3.210003] CPU: 1 UID: 0 PID: 0 Comm: swapper/1 Not tainted 6.12.117 #1",
		"[    3.210004] RIP: 0010:bpf_trampoline_6442+0x2a/0x1000",
		"[    3.210005] Call Trace:",
		"[    3.210006] Kernel panic - not syncing: Fatal exception in interrupt",
		"[    3.210007] ---[ end Kernel panic ]---",
	}
	hello := frame{proto.TypeHello, proto.Hello{}}
	f := outcomeOf(t, vm.Result{Console: console}, hello).Failure()
	if f == nil || f.Kind != verdict.KernelPanic {
		t.Fatalf("failure %v, want a kernel panic", f)
	}
	want := "guest kernel panic: Kernel panic - not syncing: Fatal exception in interrupt (BUG: kernel NULL pointer dereference, address: 0000000000000010; RIP: 0010:bpf_trampoline_6442+0x2a/0x1000)"
	if f.Summary != want {
		t.Errorf("summary %q\nwant    %q", f.Summary, want)
	}
	if len(f.Detail) != 7 || f.Detail[0] != console[2] || f.Detail[6] != console[8] {
		t.Errorf("detail %q, want the oops from its BUG line to the panic line", f.Detail)
	}
	// Without an oops line before it, the lines before the panic are the
	// evidence, and the summary is the panic line alone.
	f = outcomeOf(t, vm.Result{Console: []string{"a", "b", "[ 2.0] Kernel panic - not syncing: sysrq triggered crash"}}, hello).Failure()
	if f.Summary != "guest kernel panic: Kernel panic - not syncing: sysrq triggered crash" || len(f.Detail) != 3 {
		t.Errorf("sysrq panic: %q, detail %q", f.Summary, f.Detail)
	}
}

// TestKernelNotes: the kernel's resumption after a stale INT3 is kept to be
// reported, and every line still reaches the console hook as it came.
func TestKernelNotes(t *testing.T) {
	o := &Outcome{}
	var got []string
	c := o.console(func(l string) { got = append(got, l) })
	lines := []string{"[ 1.0] boot", "[ 9.26] traps: ktstr: resumed at try_to_wake_up+0x4/0x5f0 after a stale INT3 (emulated cross-modifying code)"}
	for _, l := range lines {
		c(l)
	}
	if !slices.Equal(got, lines) {
		t.Errorf("the hook got %q, want %q", got, lines)
	}
	want := "resumed at try_to_wake_up+0x4/0x5f0 after a stale INT3 (emulated cross-modifying code); the guest went on"
	if len(o.KernelNotes) != 1 || o.KernelNotes[0] != want {
		t.Errorf("KernelNotes %q, want [%q]", o.KernelNotes, want)
	}
	o.console(nil)("no hook") // a nil hook is fine
}
