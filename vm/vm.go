// Package vm runs a Linux guest under QEMU and nothing else: it knows the
// QEMU command line, the accelerator choice, the serial console and the
// results channel, and guarantees that no QEMU process outlives a run.
//
// A VM gets its initramfs through a memfd and streams guest results through a
// pipe, so a run creates no files at all. Every QEMU process is started in
// its own process group with a parent-death signal, registered until it is
// reaped, and killed by KillAll (called on SIGINT/SIGTERM) or by its
// context, its timeout, or the death of the host process.
//
// Environment: KTSTR_ACCEL (kvm or tcg) overrides the accelerator choice,
// KTSTR_QEMU names the QEMU binary.
package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/tail"
)

// ResultsPort is the virtio-serial port name of the results channel.
const ResultsPort = "ktstr.results"

// VM is a running QEMU process.
type VM struct {
	cfg     Config
	cmd     *exec.Cmd
	args    []string
	results *os.File // read end of the results pipe
	start   time.Time

	console   *tail.Lines
	stderr    *tail.Lines
	consoleWG sync.WaitGroup

	exited   chan struct{} // closed when QEMU has been reaped
	waitErr  error
	killOnce sync.Once
	mu       sync.Mutex
	reason   string // why we killed it, if we did
}

// Result is how a VM run ended.
type Result struct {
	// ExitCode is QEMU's exit status (-1 if it was killed).
	ExitCode int
	// Killed says why the host killed QEMU ("timeout after 1m0s",
	// "canceled"); empty when QEMU exited on its own.
	Killed string
	// Console holds the last lines of the serial console.
	Console []string
	// Stderr holds QEMU's own error output.
	Stderr []string
	// Elapsed is the wall time from Start to exit.
	Elapsed time.Duration
	// Command is the QEMU command line, for reproducing by hand.
	Command string
}

// Start launches QEMU. The VM runs until the guest powers off, the config's
// timeout expires, ctx is canceled or Kill is called; Wait reaps it.
// Results returns the guest's results channel stream.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.QEMU == "" {
		q, err := QEMUBinary()
		if err != nil {
			return nil, err
		}
		cfg.QEMU = q
	}
	args, err := cfg.Args()
	if err != nil {
		return nil, err
	}
	initrd, err := initrdMemfd(cfg.Initrd, cfg.InitrdData)
	if err != nil {
		return nil, fmt.Errorf("vm start: %w", err)
	}
	defer initrd.Close()
	resR, resW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("vm start: results pipe: %w", err)
	}
	defer resW.Close()
	conR, conW, err := os.Pipe()
	if err != nil {
		resR.Close()
		return nil, fmt.Errorf("vm start: console pipe: %w", err)
	}
	defer conW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		resR.Close()
		conR.Close()
		return nil, fmt.Errorf("vm start: stderr pipe: %w", err)
	}
	defer errW.Close()

	n := cfg.ConsoleTailLines
	if n <= 0 {
		n = 200
	}
	v := &VM{cfg: cfg, args: args, results: resR, console: tail.New(n), stderr: tail.New(50), exited: make(chan struct{})}
	cmd := exec.Command(cfg.QEMU, args...)
	cmd.Stdin = nil
	cmd.Stdout = conW
	cmd.Stderr = errW
	cmd.ExtraFiles = []*os.File{initrd, resW} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	v.cmd = cmd

	// The parent-death signal fires when the thread that forked QEMU exits,
	// so QEMU is started and reaped from one goroutine locked to its thread.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		register(v)
		v.start = time.Now()
		started <- nil
		v.waitErr = cmd.Wait()
		unregister(v)
		close(v.exited)
	}()
	if err := <-started; err != nil {
		resR.Close()
		conR.Close()
		errR.Close()
		return nil, fmt.Errorf("vm start: %s: %w", cfg.QEMU, err)
	}
	v.consoleWG.Add(2)
	go v.readLines(conR, v.console, cfg.Console)
	go v.readLines(errR, v.stderr, nil)
	go v.watch(ctx)
	return v, nil
}

// Results is the stream the guest writes to its results port. It reaches
// EOF when QEMU exits.
func (v *VM) Results() io.Reader { return v.results }

// Args returns the QEMU arguments.
func (v *VM) Args() []string { return v.args }

// Pid returns QEMU's process id.
func (v *VM) Pid() int { return v.cmd.Process.Pid }

// Kill stops the VM, recording reason as the cause.
func (v *VM) Kill(reason string) {
	v.killOnce.Do(func() {
		v.mu.Lock()
		v.reason = reason
		v.mu.Unlock()
		// The whole process group: QEMU has no children of its own, but
		// nothing it might start survives either.
		_ = unix.Kill(-v.cmd.Process.Pid, unix.SIGKILL)
	})
}

func (v *VM) watch(ctx context.Context) {
	var timeout <-chan time.Time
	if v.cfg.Timeout > 0 {
		t := time.NewTimer(v.cfg.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-v.exited:
	case <-timeout:
		v.Kill(fmt.Sprintf("timeout after %s", v.cfg.Timeout))
	case <-ctx.Done():
		v.Kill(fmt.Sprintf("canceled: %v", context.Cause(ctx)))
	}
}

// Wait waits for QEMU to exit and returns how the run ended. The error is
// non-nil only when QEMU could not be waited for at all.
func (v *VM) Wait() (Result, error) {
	<-v.exited
	v.consoleWG.Wait()
	v.results.Close()
	v.mu.Lock()
	reason := v.reason
	v.mu.Unlock()
	r := Result{
		ExitCode: v.cmd.ProcessState.ExitCode(),
		Killed:   reason,
		Console:  v.console.Lines(),
		Stderr:   v.stderr.Lines(),
		Elapsed:  time.Since(v.start),
		Command:  v.Command(),
	}
	var ee *exec.ExitError
	if v.waitErr != nil && !errors.As(v.waitErr, &ee) {
		return r, fmt.Errorf("vm wait: %w", v.waitErr)
	}
	return r, nil
}

// Command returns the QEMU command line as a shell would take it. The
// initramfs and results descriptors only exist in the running VM.
func (v *VM) Command() string {
	parts := []string{shellQuote(v.cfg.QEMU)}
	for _, a := range v.args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func (v *VM) readLines(r io.ReadCloser, t *tail.Lines, each func(string)) {
	defer v.consoleWG.Done()
	defer r.Close()
	t.Follow(r, each)
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ',' || r == '=' || r == ':' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
