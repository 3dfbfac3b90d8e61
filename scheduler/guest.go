package scheduler

import (
	"errors"
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

// This file runs a scheduler inside the guest: start it, wait until
// sched_ext reports it enabled, watch it, stop it and check it detached.

// SysRoot is the sysfs directory of sched_ext.
const SysRoot = "/sys/kernel/sched_ext"

// Starter starts a process and returns a channel with its exit status.
// Guest init passes its reaper's start method.
type Starter func(*exec.Cmd) (<-chan unix.WaitStatus, error)

// Proc is a scheduler process in the guest.
type Proc struct {
	job    *proto.SchedulerJob
	cmd    *exec.Cmd
	log    *tail.Lines
	logEOF chan struct{}
	done   chan struct{} // closed when the process has exited
	status unix.WaitStatus
}

// Launch starts the scheduler of job. Its output goes to console, each line
// prefixed with its name, and is kept for failure reports.
func Launch(job *proto.SchedulerJob, start Starter, console io.Writer) (*Proc, error) {
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
	p := &Proc{job: job, cmd: cmd, log: tail.New(80), logEOF: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.logEOF)
		defer r.Close()
		p.log.Follow(r, func(l string) { fmt.Fprintf(console, "[%s] %s\n", job.Name, l) })
	}()
	go func() {
		p.status = <-exited
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has exited, and how.
func (p *Proc) Exited() (string, bool) {
	select {
	case <-p.done:
		return describe(p.status), true
	default:
		return "", false
	}
}

// Log returns the last lines the scheduler printed.
func (p *Proc) Log() []string {
	// Give the reader a moment to drain what a dying process wrote.
	select {
	case <-p.logEOF:
	case <-time.After(200 * time.Millisecond):
	}
	return p.log.Lines()
}

// ErrNotAttached is wrapped by WaitAttached's errors.
var ErrNotAttached = errors.New("scheduler did not attach")

// WaitAttached waits until the sentinel has seen sched_ext enabled with
// this scheduler, for at most job.AttachTimeout. It fails if the process
// exits first (a verifier rejection ends that way), or if another scheduler
// is enabled.
func (p *Proc) WaitAttached(s *Sentinel) error {
	deadline := time.Now().Add(p.job.AttachTimeout)
	for {
		if s.Attached() {
			return nil
		}
		if how, ok := p.Exited(); ok {
			return fmt.Errorf("%w: %s %s before sched_ext enabled it (a BPF verifier rejection or a failed load ends this way; see its log)", ErrNotAttached, p.job.Name, how)
		}
		st := ReadState()
		if st.State == "enabled" && !p.OpsMatch(st.Ops) {
			return fmt.Errorf("%w: sched_ext is enabled with ops %q, which is not %s", ErrNotAttached, st.Ops, p.job.Name)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s is running but sched_ext still reads %q after %s (limit scaled for the accelerator)", ErrNotAttached, p.job.Name, st.State, p.job.AttachTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OpsNames are the ops names (root/ops) that count as job's scheduler: its
// name and its binary's name, each with or without an "scx_" prefix.
func OpsNames(job *proto.SchedulerJob) []string { return []string{job.Name, filepath.Base(job.Path)} }

// OpsMatch reports whether ops (root/ops) names this scheduler.
func (p *Proc) OpsMatch(ops string) bool { return opsMatch(ops, OpsNames(p.job)) }

// Stop sends SIGINT, waits up to timeout for the process to exit and for
// sched_ext to read "disabled", and reports how it ended: an error if it
// had to be killed, exited with a failure status, or left sched_ext
// enabled.
func (p *Proc) Stop(timeout time.Duration) error {
	if how, ok := p.Exited(); ok {
		return fmt.Errorf("scheduler %s had already %s", p.job.Name, how)
	}
	_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGINT)
	deadline := time.After(timeout)
	select {
	case <-p.done:
	case <-deadline:
		_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
		<-p.done
		return fmt.Errorf("scheduler %s did not exit within %s of SIGINT and was killed", p.job.Name, timeout)
	}
	if p.status.Signaled() || p.status.ExitStatus() != 0 {
		return fmt.Errorf("scheduler %s %s on SIGINT, want a clean exit", p.job.Name, describe(p.status))
	}
	for end := time.Now().Add(timeout); ; {
		st := ReadState()
		if st.State == "disabled" {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("scheduler %s exited but sched_ext still reads %q: it did not detach", p.job.Name, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the process group at once.
func (p *Proc) Kill() {
	if _, ok := p.Exited(); !ok {
		_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
		<-p.done
	}
}

// State is what sched_ext reports in sysfs.
type State struct {
	State string // "enabled", "disabled", "enabling", "disabling", ...
	Ops   string // root/ops, the enabled scheduler's name
}

// ReadState reads /sys/kernel/sched_ext.
func ReadState() State {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(SysRoot, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return State{State: read("state"), Ops: read("root/ops")}
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("was killed by signal %v", ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", ws.ExitStatus())
}
