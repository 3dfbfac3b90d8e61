package workload

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrKilled is returned by Stop after Kill.
var ErrKilled = errors.New("workload: set was killed")

// Set is a running set of workers, made by Start. Its methods are safe for
// concurrent use. Stop or Kill must be called; both leave no process behind.
type Set struct {
	kind        Kind
	stopTimeout time.Duration
	ctrl        *shm
	groups      []*shm
	procs       []*proc

	mu      sync.Mutex
	done    bool
	reports []Report
	err     error
}

// proc is the parent's handle on a worker process.
type proc struct {
	index int
	pid   int
	cmd   *exec.Cmd

	report *os.File // read end of the worker's message pipe
	lines  *bufio.Reader
	life   *os.File // write end of the life pipe; closing it stops the worker
	stderr *os.File // read end of the worker's stderr

	exited  chan struct{} // closed once reaped
	waitErr error         // the process's exit error, once exited

	stderrDone chan struct{} // closed once stderr hit EOF
	tail       tailBuffer    // the end of its stderr
}

// Pids returns the workers' process ids, in index order.
func (s *Set) Pids() []int {
	pids := make([]int, len(s.procs))
	for i, p := range s.procs {
		pids[i] = p.pid
	}
	return pids
}

// Stop stops the workers and returns their reports, in index order. Every
// worker gets a Report: one that died, or did not report within the stop
// timeout (and was killed), gets one with only Index, PID, Kind and Err set,
// and so does one whose work failed (with its partial measurements). The
// error joins one error per such worker. Later calls return the same.
func (s *Set) Stop() ([]Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.reports, s.err
	}
	s.signalStop()
	deadline := time.Now().Add(s.stopTimeout)
	reports := make([]Report, len(s.procs))
	errs := make([]error, len(s.procs))
	var wg sync.WaitGroup
	for i, p := range s.procs {
		wg.Go(func() { reports[i], errs[i] = p.finish(deadline, s.kind.Name()) })
	}
	wg.Wait()
	s.release()
	s.done, s.reports = true, reports
	if err := errors.Join(errs...); err != nil {
		s.err = fmt.Errorf("workload: stop %d %v workers: %w", len(s.procs), s.kind, err)
	}
	return s.reports, s.err
}

// Kill kills the workers at once and reaps them; their reports are lost.
// Stop then returns ErrKilled.
func (s *Set) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.signalStop()
	for _, p := range s.procs {
		p.kill()
	}
	for _, p := range s.procs {
		<-p.exited
		p.drained(time.Second)
	}
	s.release()
	s.done, s.err = true, ErrKilled
}

// signalStop tells every worker to stop: the stop word of the control page
// (waking sleepers on it), a wake of every futex word of the group pages,
// and the closing of the life pipes (waking pipe waiters).
func (s *Set) signalStop() {
	if s.ctrl != nil {
		c := s.ctrl.ctrl()
		atomic.StoreInt64(&c.Stopped, monoNow())
		storeWake(&c.Stop, 1)
		futexWakeAll(&c.Go)
	}
	for _, g := range s.groups {
		futexWakeAll(&g.group().Word)
		futexWakeAll(&g.group().Acks)
	}
	for _, p := range s.procs {
		p.life.Close()
	}
}

// release frees the parent's resources once all workers are reaped.
func (s *Set) release() {
	for _, p := range s.procs {
		p.closeFiles()
	}
	for _, g := range s.groups {
		g.close()
	}
	s.ctrl.close()
}

// finish collects the worker's report, or kills it at the deadline, and
// reaps it.
func (p *proc) finish(deadline time.Time, kind string) (Report, error) {
	_ = p.report.SetReadDeadline(deadline)
	m, readErr := p.readMessage()
	if readErr == nil && m.Report == nil {
		readErr = fmt.Errorf("unexpected message %+v", m)
	}
	if readErr != nil {
		p.kill()
	}
	select {
	case <-p.exited:
	case <-time.After(time.Until(deadline) + time.Second):
		p.kill()
		<-p.exited
	}
	p.drained(time.Second)
	if readErr != nil {
		why := fmt.Sprintf("no report (%v)", readErr)
		if errors.Is(readErr, os.ErrDeadlineExceeded) {
			why = "no report before the stop timeout; killed"
		}
		r := Report{Index: p.index, PID: p.pid, Kind: kind, Err: p.describe(why)}
		return r, p.errorf("%s", r.Err)
	}
	r := *m.Report
	if r.Err != "" {
		return r, p.errorf("%s", r.Err)
	}
	return r, nil
}

// awaitReady waits for the worker's ready message.
func (p *proc) awaitReady(deadline time.Time) error {
	_ = p.report.SetReadDeadline(deadline)
	m, err := p.readMessage()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return p.errorf("not ready before the start timeout")
	case err != nil:
		// Most likely it exited: say how, with its last words.
		select {
		case <-p.exited:
		case <-time.After(time.Second):
		}
		p.drained(100 * time.Millisecond)
		return p.errorf("%s", p.describe(fmt.Sprintf("no ready message (%v); "+
			"does the binary call workload.WorkerMain when workload.IsWorker()?", err)))
	case m.Err != "":
		return p.errorf("set up: %s", m.Err)
	case !m.Ready:
		return p.errorf("unexpected message %+v", m)
	}
	return nil
}

// readMessage reads one message line.
func (p *proc) readMessage() (message, error) {
	if p.lines == nil {
		p.lines = bufio.NewReader(p.report)
	}
	var m message
	line, err := p.lines.ReadBytes('\n')
	if err != nil {
		if err == io.EOF {
			err = errors.New("pipe closed")
		}
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("decode message %q: %w", line, err)
	}
	return m, nil
}

// describe completes why with how the process ended and the end of its
// stderr.
func (p *proc) describe(why string) string {
	var b strings.Builder
	b.WriteString(why)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			fmt.Fprintf(&b, "; %v", p.waitErr)
		} else {
			b.WriteString("; exited with status 0")
		}
	default:
		b.WriteString("; still running")
	}
	if t := strings.TrimSpace(p.tail.String()); t != "" {
		fmt.Fprintf(&b, "; stderr: %s", t)
	}
	return b.String()
}

func (p *proc) errorf(format string, args ...any) error {
	return fmt.Errorf("worker %d (pid %d): %w", p.index, p.pid, fmt.Errorf(format, args...))
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill() // fails only if already reaped
	}
}

// reap waits for the process; it runs in its own goroutine from the start.
func (p *proc) reap() {
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

// drainStderr keeps the end of the worker's stderr; it runs in its own
// goroutine from the start.
func (p *proc) drainStderr() {
	_, _ = io.Copy(&p.tail, p.stderr)
	close(p.stderrDone)
}

// drained waits, at most d, for stderr to reach EOF after the process
// exited (a descendant could hold it open), then stops reading it.
func (p *proc) drained(d time.Duration) {
	select {
	case <-p.stderrDone:
	case <-time.After(d):
		_ = p.stderr.SetReadDeadline(time.Now())
		<-p.stderrDone
	}
}

func (p *proc) closeFiles() {
	closeAll([]*os.File{p.report, p.life, p.stderr})
}

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 2048

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
