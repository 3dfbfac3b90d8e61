// Package vm runs a Linux guest under QEMU and nothing else: it knows the
// QEMU command line, the accelerator choice, the serial console, QEMU's
// machine protocol (QMP) and where the q35 machine puts the guest's RAM,
// and guarantees that no QEMU process outlives a run. It knows nothing of
// what runs in the guest: the caller gives the kernel command line, the
// initramfs, the virtio-serial ports the guest writes to with the task that
// reads each one, and any tasks to run beside the VM. It reads guest memory
// as bytes at guest-physical addresses, never as kernel structures.
//
// A VM gets its initramfs through a memfd, streams each port through a
// pipe, talks QMP over a socketpair and creates each NUMA node's RAM as a
// memfd that QEMU maps shared and the host maps read-only (Memory), so a
// run creates no files at all. Every QEMU process is started in its own
// process group with a parent-death signal, registered until it is reaped,
// and killed by KillAll (called on SIGINT/SIGTERM) or by its context, its
// timeout, or the death of the host process.
//
// Through QMP the host learns which thread runs each vCPU (VCPUs, and
// ThreadCPUTime from /proc) and sends the guest a magic SysRq key over the
// serial console (SysRq: a BREAK, then the key on QEMU's stdin).
//
// Side goroutines (the console reader, each port's task, the config's
// Tasks) are bound to the VM's lifetime: ports are read to EOF, which comes
// when QEMU has exited, Tasks' contexts are canceled then, and Wait returns
// only after all of them have returned, so nothing the guest wrote before
// it powered off is lost. Then the guest's memory is unmapped and the QMP
// connection closed.
package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/childproc"
	"github.com/ktstr-go/ktstr/internal/tail"
)

// VM is a running QEMU process.
type VM struct {
	cfg   Config
	cmd   *exec.Cmd
	args  []string
	start time.Time

	console *tail.Lines
	stderr  *tail.Lines
	tasks   sync.WaitGroup
	taskMu  sync.Mutex
	taskErr []error

	memory  *Memory
	qmp     *qmpClient
	stdin   *os.File   // the console's input (QEMU's stdin)
	sysrqMu sync.Mutex // one SysRq (break, then key) at a time

	taskCtx    context.Context // canceled when QEMU exits or is killed
	cancelTask context.CancelCauseFunc

	exited   chan struct{} // closed when QEMU has been reaped
	released chan struct{} // closed when every task returned and resources are freed
	waitErr  error
	killOnce sync.Once
	mu       sync.Mutex
	reason   string // why we killed it, if we did
	timedOut bool
	pinned   *Pinned
}

// Result is how a VM run ended.
type Result struct {
	// ExitCode is QEMU's exit status (-1 if it was killed).
	ExitCode int
	// Killed says why the host killed QEMU ("timeout after 1m0s",
	// "canceled: ..."); empty when QEMU exited on its own.
	Killed string
	// TimedOut is set when Killed is because of Config.Timeout.
	TimedOut bool
	// Console holds the last lines of the serial console; ConsoleDropped
	// counts lines cut short because they were too long.
	Console        []string
	ConsoleDropped int
	// Stderr holds QEMU's own error output.
	Stderr []string
	// Elapsed is the wall time from Start to exit.
	Elapsed time.Duration
	// Command is the QEMU command line, for reproducing by hand.
	Command string
}

// maxLine bounds one console or stderr line kept in memory; longer lines
// are cut (and counted), reading goes on.
const maxLine = 16 << 10

// errExited is the cause of a task's ctx when QEMU exits on its own.
var errExited = errors.New("QEMU exited")

// Start launches QEMU. The VM runs until the guest powers off, the config's
// timeout expires, ctx is canceled or Kill is called; Wait reaps it.
func Start(ctx context.Context, cfg Config) (_ *VM, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.QEMU == "" {
		q, err := QEMUBinary("")
		if err != nil {
			return nil, err
		}
		cfg.QEMU = q
	}
	args, err := cfg.Args()
	if err != nil {
		return nil, err
	}
	sizes, err := cfg.nodeMemory()
	if err != nil {
		return nil, err
	}

	// Everything QEMU gets is closed here once it started (or failed to);
	// what the host keeps is closed on failure.
	var theirs, ours []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	defer func() { closeAll(theirs) }()
	var mem *Memory
	var qmp *qmpClient
	defer func() {
		if err != nil {
			closeAll(ours)
			if mem != nil {
				mem.closeFiles()
				mem.release()
			}
			if qmp != nil {
				qmp.close()
			}
		}
	}()

	initrd, err := initrdMemfd(cfg.Initrd, cfg.InitrdData)
	if err != nil {
		return nil, fmt.Errorf("vm start: %w", err)
	}
	theirs = append(theirs, initrd)
	// Pipes: console input (stdin), console (stdout), stderr, then one per
	// port. The write ends of the output pipes go to QEMU and are closed
	// here once it started, so each read end reaches EOF exactly when QEMU
	// exits.
	var readers []*os.File // stdout, stderr, ports
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("vm start: pipe: %w", err)
	}
	theirs, ours = append(theirs, stdinR), append(ours, stdinW)
	var writers []*os.File
	var portWriters []*os.File // per port with Write: the host's end, to write
	for i := 0; i < 2+len(cfg.Ports); i++ {
		if i >= 2 && cfg.Ports[i-2].Write != nil {
			host, guest, err := socketpair()
			if err != nil {
				return nil, fmt.Errorf("vm start: port socket: %w", err)
			}
			hw, err := dupFile(host, "port-write")
			if err != nil {
				host.Close()
				guest.Close()
				return nil, fmt.Errorf("vm start: port socket: %w", err)
			}
			readers, writers = append(readers, host), append(writers, guest)
			theirs, ours = append(theirs, guest), append(ours, host, hw)
			portWriters = append(portWriters, hw)
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("vm start: pipe: %w", err)
		}
		readers, writers = append(readers, r), append(writers, w)
		theirs, ours = append(theirs, w), append(ours, r)
	}
	qmpOurs, qmpTheirs, err := socketpair()
	if err != nil {
		return nil, fmt.Errorf("vm start: QMP socket: %w", err)
	}
	theirs = append(theirs, qmpTheirs)
	qmp, err = newQMP(qmpOurs, qmpTimeout)
	qmpOurs.Close() // the client has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("vm start: %w", err)
	}
	mem, err = newMemory(sizes, cfg.Pinning != nil && cfg.Pinning.Hugepages)
	if err != nil {
		return nil, fmt.Errorf("vm start: %w", err)
	}

	n := cfg.ConsoleTailLines
	if n <= 0 {
		n = 200
	}
	v := &VM{cfg: cfg, args: args, console: tail.New(n), stderr: tail.New(50),
		memory: mem, qmp: qmp, stdin: stdinW, exited: make(chan struct{}), released: make(chan struct{})}
	v.taskCtx, v.cancelTask = context.WithCancelCause(context.WithoutCancel(ctx))
	cmd := exec.Command(cfg.QEMU, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, writers[0], writers[1]
	if cfg.Terminal != nil {
		// The console reader gets EOF at once: QEMU never has its pipe.
		cmd.Stdin, cmd.Stdout = cfg.Terminal, cfg.Terminal
	}
	// fds 3 (initramfs), 4... (ports), then QMP, then memory (see Config.Args).
	cmd.ExtraFiles = append(append(append([]*os.File{initrd}, writers[2:]...), qmpTheirs), mem.files...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	v.cmd = cmd

	// The parent-death signal fires when the thread that forked QEMU exits:
	// childproc keeps that thread for QEMU's whole life.
	wait, err := childproc.StartOn(cmd, cfg.hostCPUs())
	mem.closeFiles() // QEMU has its own; the host keeps the mappings
	if err != nil {
		err = fmt.Errorf("vm start: %s: %w", cfg.QEMU, err)
		v.cancelTask(err)
		return nil, err
	}
	register(v)
	v.start = time.Now()
	go func() {
		v.waitErr = wait()
		unregister(v)
		close(v.exited)
		v.cancelTask(errExited)
	}()
	v.task(readers[0], func(r io.Reader) error { v.console.Follow(r, maxLine, cfg.Console); return nil })
	v.task(readers[1], func(r io.Reader) error { v.stderr.Follow(r, maxLine, nil); return nil })
	for i, p := range cfg.Ports {
		name, read := p.Name, p.Read
		v.task(readers[2+i], func(r io.Reader) error {
			if err := read(r); err != nil {
				return fmt.Errorf("port %s: %w", name, err)
			}
			// Whatever the task left unread is drained, so QEMU never
			// blocks writing to a port nobody reads.
			_, _ = io.Copy(io.Discard, r)
			return nil
		})
	}
	for _, p := range cfg.Ports {
		if p.Write == nil {
			continue
		}
		w, write, name := portWriters[0], p.Write, p.Name
		portWriters = portWriters[1:]
		v.runTask(-1, func(ctx context.Context, _ *VM) error {
			defer w.Close()
			if err := write(ctx, w); err != nil && ctx.Err() == nil {
				return fmt.Errorf("port %s: write: %w", name, err)
			}
			return nil
		})
	}
	if cfg.Pinning != nil {
		v.runTask(-1, func(ctx context.Context, v *VM) error { return v.pin(ctx) })
	}
	for i, t := range cfg.Tasks {
		v.runTask(i, t)
	}
	go v.watch(ctx)
	go v.reap()
	return v, nil
}

// socketpair returns the two ends of a connected stream socket pair.
// dupFile returns a second descriptor of f, close-on-exec.
func dupFile(f *os.File, name string) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func socketpair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "qmp-host"), os.NewFile(uintptr(fds[1]), "qmp-qemu"), nil
}

// reap frees what the VM holds once QEMU has exited and every task has
// returned: guest memory, the QMP connection, the console's input.
func (v *VM) reap() {
	<-v.exited
	v.tasks.Wait()
	v.memory.release()
	_ = v.qmp.close()
	_ = v.stdin.Close()
	close(v.released)
}

// runTask runs the config's task i in a goroutine bound to the VM.
func (v *VM) runTask(i int, t func(context.Context, *VM) error) {
	v.tasks.Add(1)
	go func() {
		defer v.tasks.Done()
		v.serviceThread()
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				}
			}()
			return t(v.taskCtx, v)
		}()
		if err != nil {
			v.taskMu.Lock()
			v.taskErr = append(v.taskErr, fmt.Errorf("task %d: %w", i, err))
			v.taskMu.Unlock()
		}
	}()
}

// task runs fn on f in a goroutine bound to the VM: f is closed when fn
// returns, and Wait waits for it.
func (v *VM) task(f *os.File, fn func(io.Reader) error) {
	v.tasks.Add(1)
	go func() {
		defer v.tasks.Done()
		defer f.Close()
		v.serviceThread()
		if err := fn(f); err != nil {
			v.taskMu.Lock()
			v.taskErr = append(v.taskErr, err)
			v.taskMu.Unlock()
		}
	}()
}

// Args returns the QEMU arguments.
func (v *VM) Args() []string { return v.args }

// Pid returns QEMU's process id.
func (v *VM) Pid() int { return v.cmd.Process.Pid }

// Kill stops the VM, recording reason as the cause.
func (v *VM) Kill(reason string) { v.kill(reason, false) }

func (v *VM) kill(reason string, timeout bool) {
	v.killOnce.Do(func() {
		v.mu.Lock()
		v.reason = reason
		v.timedOut = timeout
		v.mu.Unlock()
		v.cancelTask(fmt.Errorf("VM killed: %s", reason))
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
		v.kill(fmt.Sprintf("timeout after %s", v.cfg.Timeout), true)
	case <-ctx.Done():
		v.Kill(fmt.Sprintf("canceled: %v", context.Cause(ctx)))
	}
}

// Wait waits for QEMU to exit and for every task bound to the VM (the
// console reader, each port's task, each of the config's Tasks) to finish,
// then releases guest memory and the QMP connection, and returns how the
// run ended. The error joins the tasks' errors, and says so when QEMU could
// not be waited for at all.
func (v *VM) Wait() (Result, error) {
	<-v.released
	v.mu.Lock()
	reason, timedOut := v.reason, v.timedOut
	v.mu.Unlock()
	r := Result{
		ExitCode:       v.cmd.ProcessState.ExitCode(),
		Killed:         reason,
		TimedOut:       timedOut,
		Console:        v.console.Lines(),
		ConsoleDropped: v.console.Truncated(),
		Stderr:         v.stderr.Lines(),
		Elapsed:        time.Since(v.start),
		Command:        v.Command(),
	}
	errs := append([]error(nil), v.taskErr...)
	var ee *exec.ExitError
	if v.waitErr != nil && !errors.As(v.waitErr, &ee) {
		errs = append(errs, fmt.Errorf("vm wait: %w", v.waitErr))
	}
	return r, errors.Join(errs...)
}

// Command returns the QEMU command line as a shell would take it. The
// descriptors it names (initramfs, ports, QMP, guest memory) only exist in
// the running VM.
func (v *VM) Command() string {
	parts := []string{shellQuote(v.cfg.QEMU)}
	for _, a := range v.args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
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
