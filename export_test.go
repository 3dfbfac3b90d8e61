package ktstr

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/initramfs"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/vm"
)

// RequireVM skips (or under CI fails) t when this host cannot boot VMs,
// exactly as Run would.
func RequireVM(t *testing.T) {
	t.Helper()
	hostEnvironment(t)
}

// BootTest boots the VM of the ktstr.Run call of the test named name, as
// Run would, and returns the time from the start to the test function
// starting in the guest, and to QEMU exiting.
func BootTest(tb testing.TB, name string, test Test) (toFn, total time.Duration) {
	tb.Helper()
	env := hostEnvironment(tb)
	start := time.Now()
	p, err := resolve(test)
	if err != nil {
		tb.Fatal(err)
	}
	o, f := boot(context.Background(), quiet{tb}, env, p, runner.RunID{Test: name})
	if f != nil {
		tb.Fatal(f)
	}
	return o.Started.Sub(start), o.End.Sub(start)
}

// BootMonitored boots the VM of the ktstr.Run call of the test named name
// with the host-side monitor on or off, and returns the time from the start
// to QEMU exiting and the monitor's host CPU time per sample (0 when off).
func BootMonitored(tb testing.TB, name string, test Test, monitor bool) (total, perSample time.Duration, samples int) {
	tb.Helper()
	env := *hostEnvironment(tb)
	env.Monitor = monitor
	p, err := resolve(test)
	if err != nil {
		tb.Fatal(err)
	}
	if err := locateScheduler(p, test.Scheduler); err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	o, f := boot(context.Background(), quiet{tb}, &env, p, runner.RunID{Test: name})
	if f != nil {
		tb.Fatal(f)
	}
	if o.MonitorSamples > 0 {
		perSample = o.MonitorCPU / time.Duration(o.MonitorSamples)
	}
	return o.End.Sub(start), perSample, o.MonitorSamples
}

// BootFloor boots the same kernel with the same QEMU options as a test VM
// of topo, but with init as the whole initramfs, and returns the wall time
// to QEMU exiting. The init must print "ktstr-floor" and power off.
func BootFloor(tb testing.TB, init string, topo topology.Topology, memoryMB int) time.Duration {
	tb.Helper()
	env := hostEnvironment(tb)
	b := initramfs.New()
	if err := b.AddFile("/init", init); err != nil {
		tb.Fatal(err)
	}
	archive, err := b.Cached("")
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	v, err := vm.Start(context.Background(), vm.Config{
		QEMU: env.QEMUPath, Kernel: env.Image.BzImage, Initrd: []string{archive}, Topology: topo, MemoryMB: memoryMB,
		Accel: env.Accel.Accel, Timeout: 2 * time.Minute, Cmdline: proto.Cmdline,
		Ports: []vm.Port{{Name: proto.PortName, Read: func(r io.Reader) error { return nil }}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	r, err := v.Wait()
	if err != nil {
		tb.Fatal(err)
	}
	if r.ExitCode != 0 || r.Killed != "" || !strings.Contains(strings.Join(r.Console, "\n"), "ktstr-floor") {
		tb.Fatalf("floor boot failed (exit %d, %s):\n%s", r.ExitCode, r.Killed, strings.Join(r.Console, "\n"))
	}
	return time.Since(start)
}

// RunOutcome runs fn in a VM as Run does, without judging, and returns
// everything the run produced (nil in the guest), for tests that look at
// the monitor's samples or the kernel's watchdog.
func RunOutcome(t *testing.T, test Test, fn Func) *runner.Outcome {
	t.Helper()
	occurrence, _ := callIndex(t)
	if inGuest != nil {
		runInGuest(t, occurrence, fn)
		return nil
	}
	p, err := resolve(test)
	if err != nil {
		t.Fatal(err)
	}
	if err := locateScheduler(p, test.Scheduler); err != nil {
		t.Fatal(err)
	}
	env := hostEnvironment(t)
	o, f := boot(context.Background(), t, env, p, runner.RunID{Test: t.Name(), Occurrence: occurrence})
	if o == nil {
		t.Fatal(f)
	}
	logMonitor(t, o)
	return o
}

// KernelImage returns the path of the kernel image VM tests boot.
func KernelImage(t *testing.T) string {
	t.Helper()
	return hostEnvironment(t).Image.BzImage
}

// quiet drops log lines.
type quiet struct{ testing.TB }

func (quiet) Logf(string, ...any) {}
