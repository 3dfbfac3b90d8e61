package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ktstr-go/ktstr/internal/flock"
)

// acquireSlot waits for one of n VM slots in dir, shared by every process
// on the host that uses the same dir (go test runs the packages of ./...
// as separate processes at once), and returns the function that frees it.
// A slot is an flock on dir/slot-<i>.lock, so a process that dies frees its
// slot with it. VMs that measure scheduling share the host's CPUs; running
// more at once makes each one's numbers noisier.
func acquireSlot(ctx context.Context, dir string, n int, onWait func()) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm slots: %w", err)
	}
	paths := make([]string, max(n, 1))
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("slot-%d.lock", i))
	}
	release, _, err = flock.LockAny(ctx, paths, onWait)
	if err != nil {
		return nil, fmt.Errorf("vm slots: %w", err)
	}
	return release, nil
}
