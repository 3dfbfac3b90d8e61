package scheduler

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
)

// The sentinel is a small process (the same binary, in the sentinel role)
// whose threads all run SCHED_FIFO. Real-time tasks are not scheduled by
// sched_ext, so the sentinel keeps running when a broken scheduler starves
// every other task in the guest, the harness included: it applies the
// watchdog override the moment the scheduler is enabled (before a scheduler
// that stalls at once can starve the harness), and notes when sched_ext
// stops running it. A separate process, because a Go program cannot make
// some of its threads real-time and rely on them alone: its runtime needs
// all of them.

const envSentinel = "KTSTR_SENTINEL"

// SentinelPeriod is how often the sentinel reads sched_ext's state.
const SentinelPeriod = 10 * time.Millisecond

type sentinelConfig struct {
	Names    []string      `json:"names"` // ops names that count as this scheduler
	Watchdog time.Duration `json:"watchdog"`
}

// Sentinel is the host side of the sentinel process.
type Sentinel struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   <-chan unix.WaitStatus
	ready    chan struct{}
	attached atomic.Bool
	left     atomic.Pointer[string]
	wdErr    atomic.Pointer[string]
}

// StartSentinel starts the sentinel for a scheduler whose ops name is one
// of names (with or without an "scx_" prefix); watchdog, if positive, is
// written as the sched_ext watchdog timeout as soon as it is enabled. It
// returns once the sentinel is ready.
func StartSentinel(names []string, watchdog time.Duration, start Starter) (*Sentinel, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sentinel: %w", err)
	}
	cfg, _ := json.Marshal(sentinelConfig{Names: names, Watchdog: watchdog})
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
	s := &Sentinel{cmd: cmd, stdin: in, exited: exited, ready: make(chan struct{})}
	go s.read(out)
	select {
	case <-s.ready:
		return s, nil
	case ws := <-exited:
		return nil, fmt.Errorf("sentinel %s before it was ready", describe(ws))
	case <-time.After(30 * time.Second):
		s.kill()
		return nil, errors.New("sentinel: not ready after 30s")
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
		case "watchdog-error":
			s.wdErr.Store(&arg)
		}
	}
}

// Attached reports whether the scheduler has been seen enabled (and the
// watchdog override applied).
func (s *Sentinel) Attached() bool { return s.attached.Load() }

// Left says why sched_ext stopped running the scheduler after it attached,
// or "" while it runs.
func (s *Sentinel) Left() string {
	if p := s.left.Load(); p != nil {
		return *p
	}
	return ""
}

// WatchdogErr is the error of the watchdog override, if it failed.
func (s *Sentinel) WatchdogErr() error {
	if p := s.wdErr.Load(); p != nil {
		return errors.New(*p)
	}
	return nil
}

// Stop ends the sentinel and waits for it.
func (s *Sentinel) Stop() {
	s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.kill()
	}
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
	var wd *watchdogWriter
	if cfg.Watchdog > 0 {
		w, err := openWatchdog()
		if err != nil {
			emit("watchdog-error", err.Error())
		}
		wd = w
	}
	go func() { // the harness closes stdin to stop the sentinel
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	emit("ready")
	ts := unix.NsecToTimespec(SentinelPeriod.Nanoseconds())
	attached, left := false, false
	for {
		st := ReadState()
		enabled := st.State == "enabled" && opsMatch(st.Ops, cfg.Names)
		switch {
		case !attached && enabled:
			if wd != nil {
				if err := wd.set(cfg.Watchdog); err != nil {
					emit("watchdog-error", err.Error())
				}
			}
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
	var last error
	for pass := 0; pass < 2; pass++ { // a thread may appear during the first pass
		tasks, err := filepath.Glob("/proc/self/task/*")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(filepath.Base(t))
			if err != nil {
				continue
			}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
				last = err
			}
		}
	}
	return last
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
