package kernel

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
)

// killGrace is how long a cancelled command's process group has between
// SIGTERM (which lets make delete half-written targets) and SIGKILL.
const killGrace = 10 * time.Second

// command returns a command that runs in dir in its own process group. When
// ctx is cancelled the whole group gets SIGTERM, and SIGKILL after killGrace.
func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = killGrace
	return cmd
}

// run runs cmd to completion with its stdout and stderr going to out (which
// must not be nil). After a cancellation it kills whatever is left of the
// process group and returns an error wrapping ctx.Err().
func run(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ctx.Err() != nil {
		killGroup(cmd)
		return fmt.Errorf("%s interrupted: %w", cmdName(cmd), ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmdName(cmd), err)
	}
	return nil
}

// killGroup sends SIGKILL to the process group of a started command.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// output runs a short command and returns its stdout; stderr goes into the
// error when it fails.
func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := command(ctx, dir, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
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

// logTail returns about the last n lines of the file at path.
func logTail(path string, n int) string {
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
	return lastLines(string(data), n)
}
