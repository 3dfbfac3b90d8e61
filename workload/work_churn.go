package workload

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The churn work types spin a batch per iteration and then change an
// attribute of the work thread, so the scheduler sees a stream of
// re-weighting, migrations or class changes.

func (w *worker) niceSweep() (loop, error) {
	lo, err := currentNice()
	if err != nil {
		return nil, err
	}
	if lo >= 19 {
		lo = 0
	}
	tid := unix.Gettid()
	return func(c *Control) error {
		for nice := lo; c.Running(); {
			w.spin(spinBatch)
			c.Progress(1)
			if nice++; nice > 19 {
				nice = lo
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
				return fmt.Errorf("set nice %d: %w", nice, err)
			}
		}
		return nil
	}, nil
}

func (w *worker) affinityChurn() (loop, error) {
	orig, err := allowedCPUs()
	if err != nil {
		return nil, err
	}
	return func(c *Control) error {
		cpus := orig
		for i := 0; c.Running(); i++ {
			w.spin(spinBatch)
			c.Progress(1)
			if len(cpus) < 2 {
				continue
			}
			cpu := cpus[i%len(cpus)]
			if err := unix.SchedSetaffinity(0, cpuMask([]int{cpu})); err == nil {
				continue
			}
			// The CPU left the allowed set (hotplug, cpuset change): go
			// back to the starting mask, which the kernel narrows to what
			// is allowed now, and take that as the new set.
			if err := unix.SchedSetaffinity(0, cpuMask(orig)); err != nil {
				return fmt.Errorf("restore affinity %v: %w", orig, err)
			}
			if cpus, err = allowedCPUs(); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (w *worker) policyChurn() (loop, error) {
	nice, err := currentNice()
	if err != nil {
		return nil, err
	}
	cycle := [...]uint32{unix.SCHED_NORMAL, unix.SCHED_BATCH, unix.SCHED_IDLE}
	return func(c *Control) error {
		for i := 1; c.Running(); i++ {
			w.spin(spinBatch)
			c.Progress(1)
			p := cycle[i%len(cycle)]
			if err := setPolicy(p, nice); err != nil {
				return fmt.Errorf("set policy %d: %w", p, err)
			}
		}
		return nil
	}, nil
}
