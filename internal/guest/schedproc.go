package guest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/tail"
)

// This file runs a scheduler process inside the guest: start it, wait until
// sched_ext reports it enabled, stop it and check it detached.

// sysRoot is the sysfs directory of sched_ext.
const sysRoot = "/sys/kernel/sched_ext"

// starter starts a process and returns a channel with its exit status.
// Guest init passes its reaper's start method.
type starter func(*exec.Cmd) (<-chan unix.WaitStatus, error)

// schedProc is a scheduler process in the guest.
type schedProc struct {
	job    *proto.SchedulerJob
	cmd    *exec.Cmd
	log    *tail.Lines
	logEOF chan struct{}
	done   chan struct{} // closed when the process has exited
	status unix.WaitStatus
}

// schedLogLine bounds one line of the scheduler's output kept in memory.
const schedLogLine = 4096

// launch starts the scheduler of job. Its output goes to console, each line
// prefixed with its name, and is kept for failure reports.
func launch(job *proto.SchedulerJob, start starter, console io.Writer) (*schedProc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start scheduler %s: %w", job.Name, err)
	}
	cmd := exec.Command(job.Path, job.Args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited, err := start(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start scheduler %s (%s): %w", job.Name, job.Path, err)
	}
	p := &schedProc{job: job, cmd: cmd, log: tail.New(80), logEOF: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.logEOF)
		defer r.Close()
		p.log.Follow(r, schedLogLine, func(l string) { fmt.Fprintf(console, "[%s] %s\n", job.Name, l) })
	}()
	go func() {
		p.status = <-exited
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited, and how.
func (p *schedProc) exited() (string, bool) {
	select {
	case <-p.done:
		return describe(p.status), true
	default:
		return "", false
	}
}

// Log returns the last lines the scheduler printed.
func (p *schedProc) Log() []string {
	// Give the reader a moment to drain what a dying process wrote.
	select {
	case <-p.logEOF:
	case <-time.After(200 * time.Millisecond):
	}
	return p.log.Lines()
}

// attachError is why a scheduler did not attach: exitedFirst when its
// process ended before sched_ext enabled it.
type attachError struct {
	msg         string
	exitedFirst bool
}

func (e *attachError) Error() string { return e.msg }

// waitAttached waits until the sentinel has seen sched_ext enabled with
// this scheduler, for at most limit. It fails if the process exits first (a
// verifier rejection ends that way), or if another scheduler is enabled.
func (p *schedProc) waitAttached(s *Sentinel, limit time.Duration) *attachError {
	deadline := time.Now().Add(limit)
	for {
		if s.Attached() {
			return nil
		}
		if how, ok := p.exited(); ok {
			return &attachError{exitedFirst: true, msg: fmt.Sprintf("scheduler %s %s before sched_ext enabled it (a BPF verifier rejection or a failed load ends this way; see its log)", p.job.Name, how)}
		}
		st := readState()
		if st.State == "enabled" && !opsMatch(st.Ops, p.job.OpsNames) {
			return &attachError{msg: fmt.Sprintf("scheduler %s did not attach: sched_ext is enabled with ops %q, which is not it", p.job.Name, st.Ops)}
		}
		if time.Now().After(deadline) {
			return &attachError{msg: fmt.Sprintf("scheduler %s did not attach: it is running but sched_ext still reads %q after %s (limit scaled for the accelerator)", p.job.Name, st.State, limit)}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGINT, waits up to limit for the process to exit and for
// sched_ext to read "disabled", and reports how it ended: an error if it
// had to be killed, exited with a failure status, or left sched_ext
// enabled.
func (p *schedProc) stop(limit time.Duration) error {
	if how, ok := p.exited(); ok {
		return fmt.Errorf("scheduler %s had already %s", p.job.Name, how)
	}
	_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGINT)
	deadline := time.After(limit)
	select {
	case <-p.done:
	case <-deadline:
		_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
		<-p.done
		return fmt.Errorf("scheduler %s did not exit within %s of SIGINT and was killed", p.job.Name, limit)
	}
	if p.status.Signaled() || p.status.ExitStatus() != 0 {
		return fmt.Errorf("scheduler %s %s on SIGINT, want a clean exit", p.job.Name, describe(p.status))
	}
	for end := time.Now().Add(limit); ; {
		st := readState()
		if st.State == "disabled" {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("scheduler %s exited but sched_ext still reads %q after %s: it did not detach", p.job.Name, st.State, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the process group at once.
func (p *schedProc) kill() {
	if _, ok := p.exited(); !ok {
		_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
		<-p.done
	}
}

// state is what sched_ext reports in sysfs.
type state struct {
	State string // "enabled", "disabled", "enabling", "disabling", ...
	Ops   string // root/ops, the enabled scheduler's name
}

// readState reads /sys/kernel/sched_ext.
func readState() state {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(sysRoot, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return state{State: read("state"), Ops: read("root/ops")}
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("was killed by signal %v", ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", ws.ExitStatus())
}
