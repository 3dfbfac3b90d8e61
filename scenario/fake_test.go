package scenario

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/workload"
)

// testEnv is an environment of topology shape whose usable CPUs are cpus
// (all of the topology's when none are given).
func testEnv(t *testing.T, shape string, cpus ...int) *Env {
	t.Helper()
	topo, err := topology.Parse(shape)
	if err != nil {
		t.Fatal(err)
	}
	if cpus == nil {
		for c := 0; c < topo.CPUs(); c++ {
			cpus = append(cpus, c)
		}
	}
	return &Env{Topology: topo, CPUs: cpus, Duration: 2 * time.Second, WorkersPerCgroup: 2}
}

// fakeRoot is the Path prefix of the fake cgroup tree.
const fakeRoot = "/fake-cgroup"

// fakeCgroups is an in-memory cgroup v2 tree that behaves like the kernel
// where a scenario can tell: parents must exist, cpuset.cpus must name
// usable CPUs and cpuset.mems existing nodes, a cgroup's effective CPUs are
// its own narrowed by its ancestors' (falling back to the parent's when the
// intersection is empty), and tasks move with MoveAll.
type fakeCgroups struct {
	env   *Env
	cpus  map[string][]int // cpuset.cpus; missing or nil: unset
	mems  map[string][]int
	procs map[string][]int
	made  []string
	log   []string // every change, in order
}

func newFakeCgroups(env *Env) *fakeCgroups {
	return &fakeCgroups{env: env, cpus: map[string][]int{}, mems: map[string][]int{}, procs: map[string][]int{}}
}

func (f *fakeCgroups) exists(name string) bool { return slices.Contains(f.made, name) }

func (f *fakeCgroups) logf(format string, args ...any) {
	f.log = append(f.log, fmt.Sprintf(format, args...))
}

func (f *fakeCgroups) Create(name string) error {
	if name == "" || path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "..") {
		return fmt.Errorf("fake: bad cgroup name %q", name)
	}
	if f.exists(name) {
		return fmt.Errorf("fake: mkdir %s: file exists", name)
	}
	if p := path.Dir(name); p != "." && !f.exists(p) {
		return fmt.Errorf("fake: mkdir %s: parent %s does not exist", name, p)
	}
	if p := path.Dir(name); p != "." && len(f.procs[p]) > 0 {
		return fmt.Errorf("fake: enable controllers in %s: it has tasks", p)
	}
	f.made = append(f.made, name)
	f.logf("create %s", name)
	return nil
}

func (f *fakeCgroups) Path(name string) string { return fakeRoot + "/" + name }

func (f *fakeCgroups) name(dir string) string { return strings.TrimPrefix(dir, fakeRoot+"/") }

func (f *fakeCgroups) SetCPUs(name string, cpus []int) error {
	if !f.exists(name) {
		return fmt.Errorf("fake: cgroup %s does not exist", name)
	}
	for _, c := range cpus {
		if !slices.Contains(f.env.CPUs, c) {
			return fmt.Errorf("fake: cgroup %s: cpuset.cpus=%v: CPU %d is not usable", name, cpus, c)
		}
	}
	f.cpus[name] = slices.Clone(cpus)
	f.logf("cpus %s=%s", name, topology.FormatList(cpus))
	return nil
}

func (f *fakeCgroups) SetMems(name string, nodes []int) error {
	if !f.exists(name) {
		return fmt.Errorf("fake: cgroup %s does not exist", name)
	}
	for _, n := range nodes {
		if n < 0 || n >= f.env.Topology.NumaNodes {
			return fmt.Errorf("fake: cgroup %s: cpuset.mems=%v: no node %d", name, nodes, n)
		}
	}
	f.mems[name] = slices.Clone(nodes)
	f.logf("mems %s=%s", name, topology.FormatList(nodes))
	return nil
}

func (f *fakeCgroups) EffectiveCPUs(name string) ([]int, error) {
	if !f.exists(name) {
		return nil, fmt.Errorf("fake: cgroup %s does not exist", name)
	}
	eff := slices.Clone(f.env.CPUs)
	parts := strings.Split(name, "/")
	for i := range parts {
		want := f.cpus[strings.Join(parts[:i+1], "/")]
		if len(want) == 0 {
			continue
		}
		var x []int
		for _, c := range eff {
			if slices.Contains(want, c) {
				x = append(x, c)
			}
		}
		if len(x) > 0 { // the kernel falls back to the parent's CPUs
			eff = x
		}
	}
	return eff, nil
}

func (f *fakeCgroups) MoveAll(from, to string) error {
	if !f.exists(from) || !f.exists(to) {
		return fmt.Errorf("fake: move all %s->%s: no such cgroup", from, to)
	}
	f.procs[to] = append(f.procs[to], f.procs[from]...)
	f.procs[from] = nil
	f.logf("move all %s->%s", from, to)
	return nil
}

func (f *fakeCgroups) Remove(name string) error {
	gone := func(n string) bool { return n == name || strings.HasPrefix(n, name+"/") }
	for _, n := range f.made {
		if gone(n) {
			delete(f.procs, n) // the real manager moves them to its root
			delete(f.cpus, n)
			delete(f.mems, n)
		}
	}
	f.made = slices.DeleteFunc(f.made, gone)
	f.logf("remove %s", name)
	return nil
}

func (f *fakeCgroups) Cleanup() error {
	for len(f.made) > 0 {
		if err := f.Remove(f.made[len(f.made)-1]); err != nil {
			return err
		}
	}
	return nil
}

// fakeWorkers starts fake worker sets: it checks each spec like
// workload.Start would, and that every worker's affinity lies within its
// cgroup's effective CPUs (sched_setaffinity fails otherwise).
type fakeWorkers struct {
	cg      *fakeCgroups
	nextPID int
	specs   []workload.Spec
	affs    map[int][]int // pid -> CPUs it was pinned to last (at start or by SetAffinity)
	sets    []*fakeSet
}

func newFakeWorkers(cg *fakeCgroups) *fakeWorkers {
	return &fakeWorkers{cg: cg, nextPID: 1 << 30, affs: map[int][]int{}} // no such pids on Linux
}

func (w *fakeWorkers) start(spec workload.Spec) (workerSet, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	name := w.cg.name(spec.Cgroup)
	eff, err := w.cg.EffectiveCPUs(name)
	if err != nil {
		return nil, err
	}
	s := &fakeSet{kind: spec.Kind.Name()}
	for i := 0; i < spec.Count; i++ {
		pid := w.nextPID
		w.nextPID++
		if spec.AffinityFor != nil {
			a := spec.AffinityFor(i)
			if err := w.checkAffinity(a, eff); err != nil {
				return nil, fmt.Errorf("worker %d: %w", i, err)
			}
			w.affs[pid] = a
		}
		s.pids = append(s.pids, pid)
	}
	w.cg.procs[name] = append(w.cg.procs[name], s.pids...)
	w.specs = append(w.specs, spec)
	w.sets = append(w.sets, s)
	return s, nil
}

func (w *fakeWorkers) checkAffinity(cpus, eff []int) error {
	for _, c := range cpus {
		if slices.Contains(eff, c) {
			return nil
		}
	}
	return fmt.Errorf("affinity %v: no CPU of the cgroup's %v", cpus, eff)
}

// pin replaces setProcessAffinity.
func (w *fakeWorkers) pin(pid int, cpus []int) error {
	if len(cpus) == 0 {
		return fmt.Errorf("pid %d: empty affinity", pid)
	}
	w.affs[pid] = slices.Clone(cpus)
	return nil
}

type fakeSet struct {
	kind    string
	pids    []int
	stopped bool
}

func (s *fakeSet) Pids() []int { return s.pids }

func (s *fakeSet) Stop() ([]workload.Report, error) {
	if s.stopped {
		return nil, fmt.Errorf("fake: set stopped twice")
	}
	s.stopped = true
	var out []workload.Report
	for i, pid := range s.pids {
		out = append(out, workload.Report{Index: i, PID: pid, Kind: s.kind,
			WorkUnits: 1000, Iterations: 100, WallTime: time.Second, CPUTime: time.Second})
	}
	return out, nil
}

// newTestRun is a run on a fake cgroup tree with fake workers.
func newTestRun(env *Env) (*run, *fakeCgroups, *fakeWorkers) {
	cg := newFakeCgroups(env)
	w := newFakeWorkers(cg)
	r := newRun(env, cg, w.start)
	r.pin = w.pin
	return r, cg, w
}

// testOp is an Op that calls f.
func testOp(desc string, f func() error) Op {
	return Op{desc, func(*run) error { return f() }}
}
