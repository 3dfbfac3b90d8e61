package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ktstr-go/ktstr/internal/flock"
	"github.com/ktstr-go/ktstr/internal/perf"
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

// Host CPUs and performance mode. Each host CPU has a lock file in the
// slots directory (perf.LockPaths). A performance-mode VM holds those of
// the CPUs it pinned exclusively, all at once or none (flock.LockAll);
// every other VM holds shared locks on the CPUs it may run on, which are
// those no performance-mode VM holds, and QEMU's affinity is set to them.
// So a performance-mode VM never shares its CPUs with another VM, and
// waits for the VMs running on them to end.

// hostTopology is the host's CPUs, LLCs and nodes, read once per process
// (free hugepages are read afresh for each performance-mode VM).
var hostTopology = sync.OnceValues(func() (perf.Host, error) { return perf.ReadHost("/sys") })

// sharedCPUs takes a shared lock on each host CPU no performance-mode VM
// holds, waiting while every one is held, and returns those CPUs.
func sharedCPUs(ctx context.Context, dir string, onWait func()) (cpus []int, release func(), err error) {
	h, err := hostTopology()
	if err != nil {
		return nil, nil, err
	}
	locked, release, err := flock.LockShared(ctx, perf.LockPaths(dir, h.CPUs), onWait)
	if err != nil {
		return nil, nil, fmt.Errorf("host CPUs: %w", err)
	}
	for _, i := range locked {
		cpus = append(cpus, h.CPUs[i])
	}
	return cpus, release, nil
}
