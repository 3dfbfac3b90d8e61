package hostbuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/internal/childproc"
)

// killGrace is how long a cancelled command's process group has between
// SIGTERM (which lets make delete half-written targets) and SIGKILL.
const killGrace = 10 * time.Second

// Command returns a command that runs in dir in its own process group. When
// ctx is cancelled the whole group gets SIGTERM, and SIGKILL 10 seconds
// later.
//
// The command also gets SIGTERM when ktstr dies, even by SIGKILL (a
// parent-death signal, PR_SET_PDEATHSIG): GNU make passes it on to the jobs
// it runs and deletes their half-built targets, so no build outlives a
// killed ktstr. Only the command itself gets that signal, not its children:
// a command whose children would outlive it (a shell running a pipeline)
// must pass it on itself.
//
// Linux ties the parent-death signal to the OS thread that started the
// command (see package childproc): start a command from Command only
// through [Run], [Output] or [Start], not with cmd.Start, cmd.Run or
// cmd.Output.
func Command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = killGrace
	return cmd
}

// Start starts cmd (from [Command]) with [childproc.Start], so that its
// parent-death signal holds, and returns the func that waits for it.
func Start(cmd *exec.Cmd) (wait func() error, err error) { return childproc.Start(cmd) }

// runLocked is cmd.Run through [Start].
func runLocked(cmd *exec.Cmd) error {
	wait, err := Start(cmd)
	if err != nil {
		return err
	}
	return wait()
}

// Error is the error of a command [Run] ran. It names the command line.
type Error struct {
	// Cmd is the command line.
	Cmd string
	// Interrupted is set when ctx ended; Err is then ctx.Err().
	Interrupted bool
	// Err is what failed: ctx.Err() when Interrupted, else the error of
	// running the command (an *exec.ExitError when it exited non-zero).
	Err error
}

func (e *Error) Error() string {
	if e.Interrupted {
		return e.Cmd + " interrupted: " + e.Err.Error()
	}
	return e.Cmd + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Run runs cmd (from [Command]) to completion with its stdout and stderr
// going to out (which must not be nil). After a cancellation it kills
// whatever is left of the process group. A failure is an *[Error], which
// wraps ctx.Err() after a cancellation.
func Run(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
	cmd.Stdout, cmd.Stderr = out, out
	err := runLocked(cmd)
	if ctx.Err() != nil {
		KillGroup(cmd)
		return &Error{Cmd: cmdName(cmd), Interrupted: true, Err: ctx.Err()}
	}
	if err != nil {
		return &Error{Cmd: cmdName(cmd), Err: err}
	}
	return nil
}

// KillGroup sends SIGKILL to the process group of a started command.
func KillGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Output runs a short command (see [Command]) and returns its stdout;
// stderr goes into the error when it fails.
func Output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := Command(ctx, dir, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runLocked(cmd); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%s: %w: %s", cmdName(cmd), err, msg)
		}
		return "", fmt.Errorf("%s: %w", cmdName(cmd), err)
	}
	return stdout.String(), nil
}

// cmdName is cmd's command line, for messages.
func cmdName(cmd *exec.Cmd) string {
	return strings.Join(cmd.Args, " ")
}

// LogTail returns about the last n lines of the file at path (read from its
// last 64 KiB), or a note saying why it cannot be read.
func LogTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(st.Size()-window, io.SeekStart); err != nil {
			return fmt.Sprintf("(cannot read log: %v)", err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return LastLines(string(data), n)
}

// LastLines returns the last n lines of s, without a trailing newline.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
