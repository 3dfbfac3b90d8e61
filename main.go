package ktstr

import (
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ktstr-go/ktstr/internal/guest"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/vm"
	"github.com/ktstr-go/ktstr/workload"
)

var (
	mainCalled  atomic.Bool
	interrupted atomic.Bool // a signal is ending the process
)

// Main is the test binary's entry point; call it from TestMain:
//
//	func TestMain(m *testing.M) { ktstr.Main(m) }
//
// On the host it runs the tests as usual, and on SIGINT or SIGTERM kills
// every VM the binary started before exiting. Inside a guest the same
// binary is PID 1 and runs exactly the one test function the host asked
// for. Main does not return.
func Main(m *testing.M) {
	switch {
	case guest.IsInit():
		guest.Init() // does not return
	case os.Getenv(proto.EnvRole) == proto.RoleTest:
		os.Exit(guestMain(m))
	}
	if code, ok := roleMain(); ok {
		os.Exit(code)
	}
	mainCalled.Store(true)
	stop := cleanupOnSignal()
	code := m.Run()
	stop()
	os.Exit(code)
}

// roleMain runs the guest roles other than init and test.
func roleMain() (int, bool) {
	switch os.Getenv(proto.EnvRole) {
	case proto.RoleSentinel:
		return guest.SentinelMain(), true
	case proto.RoleWorker:
		return workload.WorkerMain(), true
	}
	return 0, false
}

// cleanupOnSignal kills all VMs on SIGINT/SIGTERM and exits with the
// conventional status. VMs are the only thing a run leaves running: the
// initramfs lives in a memfd and results come through pipes.
func cleanupOnSignal() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			interrupted.Store(true)
			n := vm.Running()
			vm.KillAll("interrupted by " + sig.String())
			fmt.Fprintf(os.Stderr, "ktstr: %v: stopped %d VM(s)\n", sig, n)
			code := 130
			if sig == syscall.SIGTERM {
				code = 143
			}
			os.Exit(code)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
