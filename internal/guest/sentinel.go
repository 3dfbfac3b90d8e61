package guest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/threads"
)

// The sentinel is a small process (the same binary, in the sentinel role)
// whose threads all run SCHED_FIFO. Real-time tasks are not scheduled by
// sched_ext, so the sentinel keeps running when a broken scheduler starves
// every other task in the guest, the harness included: it notes the moment
// sched_ext enables the scheduler and the moment it stops running it. A separate process, because a Go program cannot make
// some of its threads real-time and rely on them alone: its runtime needs
// all of them.

const envSentinel = "KTSTR_SENTINEL"

// SentinelPeriod is how often the sentinel reads sched_ext's state.
const SentinelPeriod = 10 * time.Millisecond

type sentinelConfig struct {
	Names []string `json:"names"` // ops names that count as this scheduler
}

// Sentinel is the host side of the sentinel process.
type Sentinel struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    <-chan unix.WaitStatus
	ready     chan struct{}
	attached  atomic.Bool
	left      atomic.Pointer[string]
	stopOnce  sync.Once
	stopLimit time.Duration
}

// startSentinel starts the sentinel for a scheduler whose ops name is one
// of names (with or without an "scx_" prefix), and returns once it is
// ready, waiting at most ready (also how long Stop waits for it to exit).
func startSentinel(names []string, ready time.Duration, start starter) (*Sentinel, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sentinel: %w", err)
	}
	cfg, _ := json.Marshal(sentinelConfig{Names: names})
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), proto.EnvRole+"="+proto.RoleSentinel, envSentinel+"="+string(cfg))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sentinel: %w", err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sentinel: %w", err)
	}
	exited, err := start(cmd)
	if err != nil {
		return nil, fmt.Errorf("sentinel: %w", err)
	}
	s := &Sentinel{cmd: cmd, stdin: in, exited: exited, ready: make(chan struct{}), stopLimit: ready}
	go s.read(out)
	select {
	case <-s.ready:
		return s, nil
	case ws := <-exited:
		return nil, fmt.Errorf("sentinel %s before it was ready", describe(ws))
	case <-time.After(ready):
		s.kill()
		return nil, fmt.Errorf("sentinel: not ready after %s", ready)
	}
}

func (s *Sentinel) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		ev, arg, _ := strings.Cut(sc.Text(), " ")
		switch ev {
		case "ready":
			close(s.ready)
		case "attached":
			s.attached.Store(true)
		case "left":
			s.left.Store(&arg)
		}
	}
}

// Attached reports whether the scheduler has been seen enabled.
func (s *Sentinel) Attached() bool { return s.attached.Load() }

// Left says why sched_ext stopped running the scheduler after it attached,
// or "" while it runs.
func (s *Sentinel) Left() string {
	if p := s.left.Load(); p != nil {
		return *p
	}
	return ""
}

// Stop ends the sentinel and waits for it. It may be called more than
// once.
func (s *Sentinel) Stop() {
	s.stopOnce.Do(func() {
		s.stdin.Close()
		select {
		case <-s.exited:
		case <-time.After(s.stopLimit):
			s.kill()
		}
	})
}

func (s *Sentinel) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// SentinelMain is the sentinel process. It exits when its standard input
// closes.
func SentinelMain() int {
	var cfg sentinelConfig
	if err := json.Unmarshal([]byte(os.Getenv(envSentinel)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ktstr sentinel: bad config:", err)
		return 2
	}
	if err := makeRealtime(); err != nil {
		fmt.Fprintln(os.Stderr, "ktstr sentinel: cannot run real-time, a stalled scheduler may starve it:", err)
	}
	emit := func(ev string, arg ...string) { fmt.Println(strings.Join(append([]string{ev}, arg...), " ")) }
	go func() { // the harness closes stdin to stop the sentinel
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	emit("ready")
	ts := unix.NsecToTimespec(SentinelPeriod.Nanoseconds())
	attached, left := false, false
	for {
		st := readState()
		enabled := st.State == "enabled" && opsMatch(st.Ops, cfg.Names)
		switch {
		case !attached && enabled:
			attached = true
			emit("attached")
		case attached && !enabled && !left:
			why := fmt.Sprintf("sched_ext left the enabled state (now %q)", st.State)
			if st.State == "enabled" {
				why = fmt.Sprintf("sched_ext switched to another scheduler (%q)", st.Ops)
			}
			left = true
			emit("left", why)
		}
		_ = unix.Nanosleep(&ts, nil)
	}
}

// makeRealtime moves every thread of the process to SCHED_FIFO; threads
// created later inherit it from their creator.
func makeRealtime() error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 50}
	return threads.Each(0, func(tid int) error { return unix.SchedSetAttr(tid, &attr, 0) })
}

// opsMatch reports whether ops (root/ops) is one of names, comparing
// without "scx_" prefixes.
func opsMatch(ops string, names []string) bool {
	ops = strings.TrimPrefix(ops, "scx_")
	for _, n := range names {
		if ops != "" && ops == strings.TrimPrefix(n, "scx_") {
			return true
		}
	}
	return false
}
