package workload

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ktstr-go/ktstr/cgroup"
)

// ErrInvalidSpec is wrapped by the errors of Spec.Validate.
var ErrInvalidSpec = errors.New("workload: invalid spec")

// Spec describes a set of identical workers. The zero value of every field
// but Kind and Count means "default".
type Spec struct {
	// Kind is the work type.
	Kind Kind
	// Count is the number of workers, a multiple of Kind.GroupSize().
	Count int
	// Cgroup is the cgroup v2 directory the workers join before they start
	// working; "" leaves them in the caller's cgroup.
	Cgroup string
	// Affinity pins every worker to these CPUs; nil inherits the caller's
	// mask. AffinityFor, if set, overrides it per worker (index 0..Count-1;
	// a nil result inherits).
	Affinity    []int
	AffinityFor func(i int) []int
	// Policy is the scheduling policy (the zero value inherits it), Nice
	// the nice value for the fair policies (0 leaves it unchanged unless
	// Policy is set). Both apply to every thread of a worker.
	Policy Policy
	Nice   int
	// MemPolicy is the NUMA memory policy of the work thread (the zero
	// value inherits it).
	MemPolicy MemPolicy
	// StartTimeout bounds how long Start waits for the workers to get
	// ready (default 30s); StopTimeout how long Stop waits for their
	// reports before killing them (default 10s).
	StartTimeout time.Duration
	StopTimeout  time.Duration
}

// Validate checks the spec without starting anything. Start calls it.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...)
	}
	if s.Kind == nil {
		return bad("no Kind")
	}
	if err := s.Kind.validate(); err != nil {
		return bad("%v", err)
	}
	if s.Count <= 0 {
		return bad("Count %d: want at least one worker", s.Count)
	}
	if gs := s.Kind.GroupSize(); s.Count%gs != 0 {
		return bad("Count %d is not a multiple of the group size %d of %v", s.Count, gs, s.Kind)
	}
	if err := validateCPUs(s.Affinity); err != nil {
		return bad("%v", err)
	}
	if err := s.Policy.validate(); err != nil {
		return bad("%v", err)
	}
	if s.Nice < -20 || s.Nice > 19 {
		return bad("Nice %d out of [-20, 19]", s.Nice)
	}
	if err := s.MemPolicy.validate(); err != nil {
		return bad("%v", err)
	}
	if s.StartTimeout < 0 || s.StopTimeout < 0 {
		return bad("negative timeout")
	}
	return nil
}

// affinity returns the affinity of worker i.
func (s Spec) affinity(i int) ([]int, error) {
	if s.AffinityFor == nil {
		return s.Affinity, nil
	}
	cpus := s.AffinityFor(i)
	if err := validateCPUs(cpus); err != nil {
		return nil, fmt.Errorf("%w: AffinityFor(%d): %v", ErrInvalidSpec, i, err)
	}
	return cpus, nil
}

// Start starts spec.Count worker processes and releases them together once
// all are ready: each is moved into spec.Cgroup by the parent, then applies
// its affinity, policy and memory policy and prepares its work, and only
// then reports ready; the release follows when all have. On error nothing
// is left running.
func Start(spec Spec) (*Set, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec.StartTimeout = orDefault(spec.StartTimeout, defaultStartTimeout)
	spec.StopTimeout = orDefault(spec.StopTimeout, defaultStopTimeout)
	s := &Set{kind: spec.Kind, stopTimeout: spec.StopTimeout}
	if err := s.start(spec); err != nil {
		s.Kill()
		return nil, fmt.Errorf("workload: start %d %v workers: %w", spec.Count, spec.Kind, err)
	}
	return s, nil
}

// start does Start's work; the caller kills what it leaves on error.
func (s *Set) start(spec Spec) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	if s.ctrl, err = newShm("ktstr-ctrl"); err != nil {
		return err
	}
	if err := s.spawnAll(spec, exe); err != nil {
		return err
	}

	deadline := time.Now().Add(spec.StartTimeout)
	for _, p := range s.procs {
		if spec.Cgroup != "" {
			if err := cgroup.Join(spec.Cgroup, p.pid); err != nil {
				return p.errorf("%w", err)
			}
		}
		if _, err := p.life.Write([]byte{lifeSetUp}); err != nil {
			return p.errorf("start set-up: %w", err)
		}
	}
	for _, p := range s.procs {
		if err := p.awaitReady(deadline); err != nil {
			return err
		}
	}

	ctrl := s.ctrl.ctrl()
	atomic.StoreInt64(&ctrl.Released, monoNow())
	storeWake(&ctrl.Go, 1)
	return nil
}

// spawnAll starts the processes, group by group, with their shared pages
// and pipes. The parent keeps the shared pages mapped, to wake waiters on
// Stop, but none of the workers' descriptors.
func (s *Set) spawnAll(spec Spec, exe string) error {
	gs := spec.Kind.GroupSize()
	for g := range spec.Count / gs {
		var grp *shm
		if needsGroupPage(spec.Kind) {
			var err error
			if grp, err = newShm("ktstr-group-" + strconv.Itoa(g)); err != nil {
				return err
			}
			s.groups = append(s.groups, grp)
		}
		var pipes []*os.File // PipeIo: r0, w0 (role 0 -> 1), r1, w1 (role 1 -> 0)
		if spec.Kind.spec().Type == TypePipeIo {
			for range 2 {
				r, w, err := os.Pipe()
				if err != nil {
					closeAll(pipes)
					return fmt.Errorf("create pipe: %w", err)
				}
				pipes = append(pipes, r, w)
			}
		}
		for role := range gs {
			var in, out *os.File
			if pipes != nil {
				in, out = pipes[2*(1-role)], pipes[2*role+1]
			}
			err := s.spawn(spec, exe, g*gs+role, g, role, grp, in, out)
			if err != nil {
				closeAll(pipes)
				return err
			}
		}
		closeAll(pipes)
		if grp != nil {
			grp.file.Close()
			grp.file = nil
		}
	}
	s.ctrl.file.Close()
	s.ctrl.file = nil
	return nil
}

// needsGroupPage reports whether the workers of k share a page per group.
func needsGroupPage(k Kind) bool {
	switch k.spec().Type {
	case TypePipeIo, TypeFutexPingPong, TypeFutexFanOut, TypeMutexContention:
		return true
	}
	return false
}

// spawn starts worker i.
func (s *Set) spawn(spec Spec, exe string, i, group, role int, grp *shm, in, out *os.File) error {
	aff, err := spec.affinity(i)
	if err != nil {
		return err
	}
	p := &proc{index: i, pid: -1, exited: make(chan struct{}), stderrDone: make(chan struct{})}
	var childEnds []*os.File
	defer func() { closeAll(childEnds) }()
	pipe := func(parentReads bool) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("create pipe: %w", err)
		}
		if parentReads {
			childEnds = append(childEnds, w)
			return r, nil
		}
		childEnds = append(childEnds, r)
		return w, nil
	}
	if p.report, err = pipe(true); err != nil {
		return err
	}
	if p.life, err = pipe(false); err != nil {
		p.closeFiles()
		return err
	}
	if p.stderr, err = pipe(true); err != nil {
		p.closeFiles()
		return err
	}
	// Descriptors in the child: 3 ctrl, 4 report, 5 life, then the optional
	// ones.
	extra := []*os.File{s.ctrl.file, childEnds[0], childEnds[1]}
	fds := workerFds{Ctrl: 3, Report: 4, Life: 5, Group: -1, In: -1, Out: -1}
	add := func(f *os.File, fd *int) {
		if f != nil {
			*fd = 3 + len(extra)
			extra = append(extra, f)
		}
	}
	if grp != nil {
		add(grp.file, &fds.Group)
	}
	add(in, &fds.In)
	add(out, &fds.Out)

	ws := workerSpec{
		Kind: spec.Kind.spec(), Index: i, Group: group, Role: role,
		Affinity: aff, Policy: spec.Policy, Nice: spec.Nice, MemPolicy: spec.MemPolicy, Fds: fds,
	}
	env, err := encodeSpec(ws)
	if err != nil {
		p.closeFiles()
		return err
	}
	// The flag makes a test binary that lacks the worker dispatch run no
	// tests (rather than all of them, recursively).
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = workerEnv(env)
	cmd.Stdout, cmd.Stderr = childEnds[2], childEnds[2]
	cmd.ExtraFiles = extra
	if err := cmd.Start(); err != nil {
		p.closeFiles()
		return fmt.Errorf("start worker %d: %w", i, err)
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	go p.reap()
	go p.drainStderr()
	s.procs = append(s.procs, p)
	return nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// orDefault returns v, or def if v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
