package guest

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

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/probe"
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
	// Probe, for an auto-repro run, makes the sentinel attach the probes
	// (package probe) before it is ready, and the scheduler's callback
	// probes as soon as the scheduler registers them: real-time, it does
	// so however fast the scheduler stalls, and keeps draining the ring
	// buffer while it does.
	Probe *proto.ProbeJob `json:"probe,omitempty"`
}

// probePeriod is how often the sentinel looks for the scheduler's
// struct_ops map to probe its callbacks.
const probePeriod = time.Millisecond

// Sentinel is the host side of the sentinel process.
type Sentinel struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	exited    <-chan unix.WaitStatus
	ready     chan struct{}
	attached  atomic.Bool
	left      atomic.Pointer[string]
	probeErr  atomic.Pointer[string]
	probes    chan *proto.ProbeReport
	stopOnce  sync.Once
	stopLimit time.Duration
}

// startSentinel starts the sentinel for a scheduler whose ops name is one
// of names (with or without an "scx_" prefix), and returns once it is
// ready, waiting at most ready (also how long Stop waits for it to exit).
func startSentinel(names []string, probe *proto.ProbeJob, ready time.Duration, start starter) (*Sentinel, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sentinel: %w", err)
	}
	cfg, _ := json.Marshal(sentinelConfig{Names: names, Probe: probe})
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
	s := &Sentinel{cmd: cmd, stdin: in, exited: exited, ready: make(chan struct{}), stopLimit: ready, probes: make(chan *proto.ProbeReport, 1)}
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
	sc.Buffer(nil, proto.MaxFrame)
	for sc.Scan() {
		ev, arg, _ := strings.Cut(sc.Text(), " ")
		switch ev {
		case "ready":
			close(s.ready)
		case "attached":
			s.attached.Store(true)
		case "left":
			s.left.Store(&arg)
		case "probe-error":
			s.probeErr.Store(&arg)
		case "probe":
			r := new(proto.ProbeReport)
			if err := json.Unmarshal([]byte(arg), r); err != nil {
				msg := "bad probe report: " + err.Error()
				s.probeErr.Store(&msg)
				r = nil
			}
			select {
			case s.probes <- r:
			default:
			}
		}
	}
	close(s.probes)
}

// Probes asks the sentinel of an auto-repro run for what its probes
// recorded, the events of the tasks pids first, waiting at most limit.
func (s *Sentinel) Probes(pids []int, limit time.Duration) (*proto.ProbeReport, error) {
	if p := s.probeErr.Load(); p != nil {
		return nil, errors.New(*p)
	}
	b, _ := json.Marshal(pids)
	if _, err := fmt.Fprintf(s.stdin, "report %s\n", b); err != nil {
		return nil, fmt.Errorf("ask the sentinel for the probe report: %w", err)
	}
	select {
	case r, ok := <-s.probes:
		if !ok || r == nil {
			if p := s.probeErr.Load(); p != nil {
				return nil, errors.New(*p)
			}
			return nil, errors.New("the sentinel sent no probe report")
		}
		return r, nil
	case <-time.After(limit):
		return nil, fmt.Errorf("no probe report from the sentinel within %s", limit)
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
	var mu sync.Mutex
	emit := func(ev string, arg ...string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(strings.Join(append([]string{ev}, arg...), " "))
	}
	var probes *probe.Session
	stop := make(chan struct{})
	if cfg.Probe != nil {
		var err error
		if probes, err = probe.Start(cfg.Probe.Functions); err != nil {
			emit("probe-error", err.Error())
		} else {
			go probes.WatchScheduler(stop, probePeriod)
		}
	}
	go func() { // the harness asks for the probe report, and closes stdin to stop the sentinel
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmd, arg, _ := strings.Cut(sc.Text(), " ")
			if cmd != "report" || probes == nil {
				continue
			}
			var pids []int
			_ = json.Unmarshal([]byte(arg), &pids)
			close(stop)
			b, err := json.Marshal(probes.Report(pids))
			if err != nil {
				emit("probe-error", err.Error())
				continue
			}
			emit("probe", string(b))
			probes = nil
		}
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
