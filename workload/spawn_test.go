package workload

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
)

const runFor = 300 * time.Millisecond

// wakes reports which workers of a kind measure wake latencies, by role.
func wakes(k Kind, role int) bool {
	switch k.Name() {
	case TypeMixed, TypeBursty, TypeSequence, TypePipeIo, TypeFutexPingPong:
		return true
	case TypeFutexFanOut:
		return role > 0 // the waiters
	}
	return false
}

func TestEveryKind(t *testing.T) {
	for _, k := range allKinds() {
		t.Run(k.String(), func(t *testing.T) {
			count := max(2, k.GroupSize())
			s, err := Start(Spec{Kind: k, Count: count})
			if err != nil {
				t.Fatal(err)
			}
			pids := s.Pids()
			time.Sleep(runFor)
			reports, err := s.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if len(reports) != count {
				t.Fatalf("%d reports, want %d", len(reports), count)
			}
			for i, r := range reports {
				t.Logf("worker %d: %d units, %d iterations, wall %v, cpu %v, max gap %v, %d migrations over %v, %d wake-ups",
					i, r.WorkUnits, r.Iterations, r.WallTime, r.CPUTime, r.MaxGap, r.Migrations, r.CPUs, r.WakeCount)
				checkReport(t, r, i, pids[i], k.Name())
				if w := wakes(k, i%k.GroupSize()); w && r.WakeCount == 0 {
					t.Errorf("worker %d: no wake latency measured", i)
				}
				if r.WakeCount > 0 && (len(r.WakeLatencies) == 0 || len(r.WakeLatencies) > reservoirSize) {
					t.Errorf("worker %d: %d wake-ups but %d latencies kept", i, r.WakeCount, len(r.WakeLatencies))
				}
			}
		})
	}
}

// checkReport checks what every report of a healthy worker that ran for
// runFor must satisfy.
func checkReport(t *testing.T, r Report, index, pid int, kind string) {
	t.Helper()
	if r.Err != "" {
		t.Errorf("worker %d: Err %q", index, r.Err)
	}
	if r.Index != index || r.PID != pid || r.Kind != kind {
		t.Errorf("worker %d: Index %d PID %d (want %d) Kind %q (want %q)", index, r.Index, r.PID, pid, r.Kind, kind)
	}
	if r.WorkUnits == 0 || r.Iterations == 0 {
		t.Errorf("worker %d: WorkUnits %d Iterations %d, want both > 0", index, r.WorkUnits, r.Iterations)
	}
	if r.WallTime < runFor || r.WallTime > runFor+5*time.Second {
		t.Errorf("worker %d: WallTime %v, want about %v", index, r.WallTime, runFor)
	}
	if r.CPUTime <= 0 || r.CPUTime > r.WallTime+50*time.Millisecond {
		t.Errorf("worker %d: CPUTime %v with WallTime %v", index, r.CPUTime, r.WallTime)
	}
	if r.OffCPU < 0 || r.OffCPU > r.WallTime {
		t.Errorf("worker %d: OffCPU %v with WallTime %v", index, r.OffCPU, r.WallTime)
	}
	if r.Schedstat.RunTime != 0 && r.Schedstat.RunTime != r.CPUTime {
		t.Errorf("worker %d: Schedstat.RunTime %v != CPUTime %v", index, r.Schedstat.RunTime, r.CPUTime)
	}
	// The last checkpoint may come after the stop stamp (a worker at nice 19
	// or SCHED_IDLE on a busy host finishes its iteration late), so a gap may
	// exceed the wall time by that much, but not by seconds.
	if r.MaxGap <= 0 || r.MaxGap > r.WallTime+time.Second || len(r.CPUs) == 0 {
		t.Errorf("worker %d: MaxGap %v CPUs %v", index, r.MaxGap, r.CPUs)
	}
}

func TestCustom(t *testing.T) {
	s, err := Start(Spec{Kind: testCustom, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if r.Kind != "test-custom" || r.Iterations == 0 || r.WorkUnits != 3*r.Iterations {
			t.Errorf("report %+v: want Kind test-custom and 3 units per iteration", r)
		}
	}
}

var (
	failingCustom  = Custom("test-failing", func(c *Control) error { return errors.New("out of coffee") })
	panickyCustom  = Custom("test-panicky", func(c *Control) error { panic("help") })
	stubbornCustom = Custom("test-stubborn", func(c *Control) error {
		for { // ignores Running
			time.Sleep(time.Millisecond)
		}
	})
	earlyCustom = Custom("test-early", func(c *Control) error { c.Progress(1); return nil })
	dupCustom1  = Custom("test-dup", func(c *Control) error { return nil })
	dupCustom2  = Custom("test-dup", func(c *Control) error { return nil })
)

func TestCustomErrors(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		want string
	}{
		{failingCustom, `custom work type "test-failing": out of coffee`},
		{panickyCustom, "panic: help"},
	} {
		s, err := Start(Spec{Kind: tt.kind, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		reports, err := s.Stop()
		if err == nil || !strings.Contains(err.Error(), "worker 0") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: Stop error %v, want one naming worker 0 and %q", tt.kind, err, tt.want)
		}
		if len(reports) != 1 || !strings.Contains(reports[0].Err, tt.want) {
			t.Errorf("%v: reports %+v, want Err %q", tt.kind, reports, tt.want)
		}
	}
}

// A Custom function that returns early leaves a worker that waits for the
// stop, and reports normally.
func TestCustomReturnsEarly(t *testing.T) {
	s, err := Start(Spec{Kind: earlyCustom, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[0]; r.Iterations != 1 || r.WallTime < 50*time.Millisecond {
		t.Errorf("report %+v", r)
	}
}

func TestCustomRegistry(t *testing.T) {
	_, err := Start(Spec{Kind: dupCustom1, Count: 1})
	if err == nil || !strings.Contains(err.Error(), `"test-dup" is registered 2 times`) {
		t.Errorf("duplicate name: Start error %v", err)
	}
	_ = dupCustom2

	// Registered here, after init, so the worker process does not know it.
	name := fmt.Sprintf("test-late-%d", time.Now().UnixNano()) // new with every -count
	late := Custom(name, func(c *Control) error { return nil })
	_, err = Start(Spec{Kind: late, Count: 1})
	if err == nil || !strings.Contains(err.Error(), strconv.Quote(name)+" is not registered") {
		t.Errorf("late registration: Start error %v", err)
	}
}

func TestStopTimeoutKills(t *testing.T) {
	s, err := Start(Spec{Kind: stubbornCustom, Count: 1, StopTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	reports, err := s.Stop()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Stop took %v", el)
	}
	if err == nil || !strings.Contains(reports[0].Err, "stop timeout; killed") {
		t.Errorf("Stop = %+v, %v; want a stop-timeout error", reports, err)
	}
	checkGone(t, s.Pids())
}

func TestWorkerKilled(t *testing.T) {
	s, err := Start(Spec{Kind: CpuSpin(), Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	pids := s.Pids()
	time.Sleep(50 * time.Millisecond)
	if err := unix.Kill(pids[0], unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	reports, err := s.Stop()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("worker 0 (pid %d)", pids[0])) {
		t.Errorf("Stop error %v, want one naming worker 0", err)
	}
	if len(reports) != 2 {
		t.Fatalf("%d reports", len(reports))
	}
	if r := reports[0]; r.PID != pids[0] || !strings.Contains(r.Err, "signal: killed") {
		t.Errorf("killed worker's report %+v", r)
	}
	if r := reports[1]; r.Err != "" || r.WorkUnits == 0 {
		t.Errorf("surviving worker's report %+v", r)
	}
	checkGone(t, pids)
}

// A pair whose peer dies reports the loss rather than hanging.
func TestPeerKilled(t *testing.T) {
	s, err := Start(Spec{Kind: PipeIo(), Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	pids := s.Pids()
	time.Sleep(50 * time.Millisecond)
	_ = unix.Kill(pids[1], unix.SIGKILL)
	time.Sleep(50 * time.Millisecond)
	reports, err := s.Stop()
	if err == nil || !strings.Contains(reports[0].Err, errPeerGone.Error()) || reports[1].Err == "" {
		t.Errorf("Stop = %+v, %v", reports, err)
	}
}

func TestKill(t *testing.T) {
	s, err := Start(Spec{Kind: FutexPingPong(), Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Kill()
	checkGone(t, s.Pids())
	if _, err := s.Stop(); !errors.Is(err, ErrKilled) {
		t.Errorf("Stop after Kill = %v, want ErrKilled", err)
	}
	s.Kill() // idempotent
}

func TestStopTwice(t *testing.T) {
	s, err := Start(Spec{Kind: CpuSpin(), Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	r1, err1 := s.Stop()
	r2, err2 := s.Stop()
	if err1 != nil || err2 != nil || len(r1) != 1 || len(r2) != 1 || r1[0].PID != r2[0].PID {
		t.Errorf("Stop twice: %v, %v; %v, %v", r1, err1, r2, err2)
	}
}

func TestNoLeaks(t *testing.T) {
	cycle := func(k Kind) {
		s, err := Start(Spec{Kind: k, Count: max(2, k.GroupSize())})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	cycle(CpuSpin()) // warm up: the runtime's poller opens descriptors once
	fds, goroutines := openFds(t), runtime.NumGoroutine()
	for _, k := range []Kind{PipeIo(), ForkExit(), FutexFanOut(2)} {
		cycle(k)
	}
	if _, err := Start(Spec{Kind: CpuSpin(), Count: 1, Affinity: []int{maxCPUs - 1}}); err == nil {
		t.Error("Start with an absent CPU succeeded")
	}
	if got := openFds(t); got != fds {
		t.Errorf("%d open descriptors before, %d after", fds, got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > goroutines {
		t.Errorf("%d goroutines before, %d after", goroutines, got)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("child processes left: %v", kids)
	}
}

// TestExitRole checks the role ForkExit re-executes the binary in when
// /bin/true is missing.
func TestExitRole(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := encodeSpec(workerSpec{Exit: true})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = workerEnv(spec)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("exit role: %v, output %q", err, out)
	}
}

func TestWorkerEnv(t *testing.T) {
	t.Setenv(proto.EnvRole, proto.RoleTest)
	env := workerEnv("{}")
	var roles []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, proto.EnvRole+"="); ok {
			roles = append(roles, v)
		}
	}
	if !slices.Equal(roles, []string{proto.RoleWorker}) {
		t.Errorf("roles in the worker environment: %v", roles)
	}
}
