package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// Slots returns how many VMs may run at once on this host: $KTSTR_JOBS, or
// half the host CPUs (at least one). VMs that measure scheduling share the
// host's CPUs; running more at once makes each one's numbers noisier.
func Slots() int {
	if v, err := strconv.Atoi(os.Getenv("KTSTR_JOBS")); err == nil && v > 0 {
		return v
	}
	return max(1, runtime.NumCPU()/2)
}

// AcquireSlot waits for one of n VM slots in dir, shared by every process
// on the host that uses the same dir (go test runs the packages of ./...
// as separate processes at once), and returns the function that frees it.
// A slot is an flock on dir/slot-<i>.lock, so a process that dies frees its
// slot with it.
func AcquireSlot(ctx context.Context, dir string, n int) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm slots: %w", err)
	}
	for {
		for i := 0; i < n; i++ {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d.lock", i)), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return nil, fmt.Errorf("vm slots: %w", err)
			}
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == nil {
				return func() { f.Close() }, nil
			}
			f.Close()
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("vm slots: lock %s: %w", f.Name(), err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vm slots: waiting for one of %d: %w", n, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
