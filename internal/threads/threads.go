// Package threads walks the threads of a process through /proc, the one
// place ktstr does so (pinning a worker, moving a process to a real-time
// policy, re-pinning a cgroup's processes).
package threads

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Each calls fn for every thread of process pid (0 for the calling
// process), repeating passes over /proc/<pid>/task until one finds no
// thread it has not seen, so that threads created meanwhile are covered.
// A thread that exits meanwhile (ESRCH) is skipped; so is a process that
// is already gone when the walk starts. Any other error of fn ends the walk.
func Each(pid int, fn func(tid int) error) error {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	done := map[int]bool{}
	for {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) && pid != 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list threads: %w", err)
		}
		found := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			found = true
			done[tid] = true
			if err := fn(tid); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		if !found {
			return nil
		}
	}
}
