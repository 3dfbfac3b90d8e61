package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
)

// IsWorker reports whether this process was started as a worker by Start.
// The binary's entry point must then run WorkerMain instead of its usual
// work:
//
//	if workload.IsWorker() {
//		os.Exit(workload.WorkerMain())
//	}
func IsWorker() bool { return os.Getenv(proto.EnvRole) == proto.RoleWorker }

// WorkerMain runs the worker this process was started as and returns its
// exit code. It must be called early in the process (TestMain, main), on
// the main goroutine, before other goroutines start work.
func WorkerMain() int {
	// The work runs on this thread: the per-thread attributes (memory
	// policy, timer slack, the churned nice/policy/affinity) and the
	// per-thread accounting (schedstat) refer to it.
	runtime.LockOSThread()
	spec, err := decodeSpec(os.Getenv(envSpec))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ktstr worker:", err)
		return 2
	}
	if spec.Exit {
		return 0
	}
	w := &worker{spec: spec, acc: 0x9e3779b97f4a7c15}
	if err := w.run(); err != nil {
		fmt.Fprintf(os.Stderr, "ktstr worker %d: %v\n", spec.Index, err)
		return 1
	}
	return 0
}

// worker is the state of a worker process.
type worker struct {
	spec  workerSpec
	ctrl  *ctrlPage
	group *groupPage // nil unless the kind works in groups
	acc   uint64     // spin state, kept so the arithmetic is not optimized away
}

// run is the life of a worker: set up, report ready, wait for the release,
// work until stopped, report.
func (w *worker) run() error {
	fds := w.spec.Fds
	for _, fd := range []int{fds.Report, fds.Life, fds.In, fds.Out} {
		if fd >= 0 {
			unix.CloseOnExec(fd) // not for ForkExit's children
		}
	}
	ctrl, err := attachShm(fds.Ctrl)
	if err != nil {
		return err
	}
	w.ctrl = ctrl.ctrl()
	if fds.Group >= 0 {
		g, err := attachShm(fds.Group)
		if err != nil {
			return err
		}
		w.group = g.group()
	}
	c := newControl(w.spec.Index, &w.ctrl.Stop, uint64(os.Getpid())<<32^uint64(time.Now().UnixNano()))

	// Wait until the parent has put this process in its cgroup: affinity
	// set before a move into a cpuset cgroup would not survive it.
	if b, err := readLife(fds.Life); err != nil || b != lifeSetUp {
		return fmt.Errorf("wait for set-up from the parent: byte %q, %v", b, err)
	}
	go watchLife(fds.Life, &c.lost)

	loop, err := w.setUp()
	if err != nil {
		return w.send(message{Err: err.Error()})
	}
	if err := w.send(message{Ready: true}); err != nil {
		return err
	}
	for atomic.LoadUint32(&w.ctrl.Go) == 0 {
		if c.lost.Load() {
			return errors.New("the parent went away before the release")
		}
		_ = futexWaitFor(&w.ctrl.Go, 0, waitSlice)
	}

	c.begin(atomic.LoadInt64(&w.ctrl.Released))
	st0 := readThreadStat()
	runErr := w.work(c, loop)
	st1 := readThreadStat()
	end := atomic.LoadInt64(&w.ctrl.Stopped)
	if end == 0 { // stopped by an error, or the parent went away
		end = monoNow()
	}

	r := Report{Index: w.spec.Index, PID: os.Getpid(), Kind: kind{w.spec.Kind}.Name()}
	c.fill(&r)
	r.WallTime = time.Duration(end - c.start)
	r.CPUTime, r.Schedstat = cpuSince(st0, st1)
	r.OffCPU = max(r.WallTime-r.CPUTime, 0)
	if runErr != nil {
		r.Err = runErr.Error()
	}
	return w.send(message{Report: &r})
}

// setUp applies the scheduling and memory settings and prepares the work
// loop.
func (w *worker) setUp() (loop, error) {
	s := w.spec
	if err := (schedSetting{Affinity: s.Affinity, Policy: s.Policy, Nice: s.Nice}).apply(); err != nil {
		return nil, err
	}
	if err := s.MemPolicy.apply(); err != nil {
		return nil, err
	}
	// Timer slack would add up to 50µs to every sleep and blur the wake
	// latencies measured on sleeps.
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set timer slack: %w", err)
	}
	prepare, ok := runners[s.Kind.Type]
	if !ok {
		return nil, fmt.Errorf("unknown work type %q", s.Kind.Type)
	}
	loop, err := prepare(w)
	if err != nil {
		return nil, fmt.Errorf("prepare %v: %w", kind{s.Kind}, err)
	}
	return loop, nil
}

// work runs the loop, turning a panic into an error. A loop that returns
// early without an error (a Custom function may) waits for the stop.
func (w *worker) work(c *Control, loop loop) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	if err := loop(c); err != nil {
		return err
	}
	for c.Running() {
		_ = futexWaitFor(c.stop, 0, waitSlice)
	}
	return nil
}

// send writes a message line to the parent.
func (w *worker) send(m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	b = append(b, '\n')
	for len(b) > 0 {
		n, err := unix.Write(w.spec.Fds.Report, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("send message to the parent: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// readLife reads a byte from the life pipe.
func readLife(fd int) (byte, error) {
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, errors.New("the parent closed the pipe")
		}
		return b[0], nil
	}
}

// watchLife sets lost once the parent closes the life pipe: on Stop, or
// when it died.
func watchLife(fd int, lost *atomic.Bool) {
	for {
		if _, err := readLife(fd); err != nil {
			lost.Store(true)
			return
		}
	}
}

// workerEnv is the environment of a worker process: the parent's, with the
// role and spec variables replaced.
func workerEnv(spec string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, proto.EnvRole+"=") || strings.HasPrefix(kv, envSpec+"=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, proto.EnvRole+"="+proto.RoleWorker, envSpec+"="+spec)
}
