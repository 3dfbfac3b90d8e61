// Package childproc starts child processes that must not outlive ktstr:
// QEMU, make and the other build tools. Each gets a parent-death signal
// (SysProcAttr.Pdeathsig), which Linux ties to the OS thread that started
// the child, not to the process: it fires when that thread exits while the
// child runs. The Go runtime never ends a thread, except one locked
// (runtime.LockOSThread) by a goroutine that returns without unlocking it,
// so Start starts the child from a goroutine locked to its thread until the
// child exits, which no other goroutine can then end. This is the one place
// ktstr starts such a child.
package childproc

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// Start starts cmd from a goroutine locked to its OS thread until cmd
// exits, and returns a func that waits for cmd to exit and returns what
// cmd.Wait returned. Call wait exactly once. cmd.Wait runs as soon as cmd
// has started, and closes the pipes of cmd.StdoutPipe and cmd.StderrPipe
// when cmd exits, maybe before they are read: to read cmd's output as it
// comes, set cmd.Stdout to the write end of an os.Pipe (closed after Start)
// and read its read end.
func Start(cmd *exec.Cmd) (wait func() error, err error) { return StartOn(cmd, nil) }

// StartOn is Start with the child's CPU affinity set to cpus (none: the
// parent's): the starting thread takes that affinity, which the child
// inherits, and, locked, dies with the goroutine instead of going back to
// the runtime with it.
func StartOn(cmd *exec.Cmd, cpus []int) (wait func() error, err error) {
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if len(cpus) == 0 {
			defer runtime.UnlockOSThread()
		} else {
			var set unix.CPUSet
			for _, c := range cpus {
				set.Set(c)
			}
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				started <- fmt.Errorf("set the CPU affinity %v of %s: %w", cpus, cmd.Path, err)
				return
			}
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return func() error { return <-done }, nil
}
