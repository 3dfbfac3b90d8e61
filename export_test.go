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

// quiet drops log lines.
type quiet struct{ testing.TB }

func (quiet) Logf(string, ...any) {}
