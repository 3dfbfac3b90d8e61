package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/threads"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

// run is the state of one scenario execution.
type run struct {
	env    *Env
	cg     cgroups
	start  func(workload.Spec) (workerSet, error)
	pin    func(pid int, cpus []int) error
	groups map[string]*group
	order  []string // creation order
}

// cgroups is what a run needs of a *cgroup.Manager (tests use a fake).
type cgroups interface {
	Create(name string) error
	Path(name string) string
	SetCPUs(name string, cpus []int) error
	SetMems(name string, nodes []int) error
	EffectiveCPUs(name string) ([]int, error)
	MoveAll(from, to string) error
	Remove(name string) error
	Cleanup() error
}

// workerSet is what a run needs of a *workload.Set (tests use a fake).
type workerSet interface {
	Pids() []int
	Stop() ([]workload.Report, error)
}

// startWorkers starts real workers.
func startWorkers(spec workload.Spec) (workerSet, error) {
	s, err := workload.Start(spec)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// group is a cgroup of the scenario and everything its workers reported.
type group struct {
	def     CgroupDef
	cpus    []int // CPUs its workers may use now (nil: unrestricted)
	mems    []int // memory nodes of its cpuset (nil: unrestricted)
	sets    []workerSet
	started int // workers started so far, for indices
	reports []workload.Report
	allowed map[int]bool // every CPU its effective cpuset held at any time
	movedTo []string     // cgroups its tasks were moved into
	removed bool         // removed by RemoveCgroup
	affGen  uint64       // SetAffinity ops applied so far
}

// Execute runs the steps and returns the checks' result over every
// worker's report. The error reports a scenario that could not run as
// written (a bad cpuset, a cgroup that does not exist, a worker that died).
func Execute(env *Env, steps ...Step) (verify.Result, error) {
	if env.Cgroups == nil {
		return verify.Result{}, errors.New("scenario: no cgroup manager")
	}
	r := newRun(env, env.Cgroups, startWorkers)
	err := r.steps(steps)
	env.confine(false)
	stopErr := r.stopAll()
	cleanErr := r.cg.Cleanup()
	if err = errors.Join(err, stopErr, cleanErr); err != nil {
		return verify.Result{}, err
	}
	return verify.Check(env.Checks, r.reports(), env.Verify), nil
}

func newRun(env *Env, cg cgroups, start func(workload.Spec) (workerSet, error)) *run {
	return &run{env: env, cg: cg, start: start, pin: setProcessAffinity, groups: map[string]*group{}}
}

func (r *run) steps(steps []Step) error {
	for i, st := range steps {
		for _, op := range st.Ops {
			if err := op.apply(r); err != nil {
				return fmt.Errorf("step %d: %s: %w", i+1, op, err)
			}
		}
		if err := r.refreshAllowed(); err != nil {
			return err
		}
		d := st.Hold.duration(r.env)
		r.env.logf("step %d: %s; hold %s", i+1, describe(st.Ops), d.Round(time.Millisecond))
		end := time.Now().Add(d)
		if st.Every <= 0 || len(st.Loop) == 0 {
			time.Sleep(time.Until(end))
			continue
		}
		for time.Until(end) > 0 {
			time.Sleep(min(st.Every, time.Until(end)))
			if time.Until(end) <= 0 {
				break
			}
			for _, op := range st.Loop {
				if err := op.apply(r); err != nil {
					return fmt.Errorf("step %d loop: %s: %w", i+1, op, err)
				}
			}
			if err := r.refreshAllowed(); err != nil {
				return err
			}
		}
	}
	return nil
}

func describe(ops []Op) string {
	if len(ops) == 0 {
		return "no change"
	}
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = o.String()
	}
	return strings.Join(s, ", ")
}

func (r *run) group(name string) (*group, error) {
	g, ok := r.groups[name]
	if !ok {
		return nil, fmt.Errorf("no cgroup %q in this scenario", name)
	}
	return g, nil
}

func (r *run) add(def CgroupDef) error {
	if err := def.validate(r.env); err != nil {
		return err
	}
	if _, dup := r.groups[def.Name]; dup {
		return fmt.Errorf("cgroup %s already exists", def.Name)
	}
	if err := r.cg.Create(def.Name); err != nil {
		return err
	}
	g := &group{def: def, allowed: map[int]bool{}}
	r.groups[def.Name] = g
	r.order = append(r.order, def.Name)
	if !def.Cpuset.IsZero() {
		if err := r.setCpuset(def.Name, def.Cpuset); err != nil {
			return err
		}
	}
	if err := r.refreshAllowed(); err != nil {
		return err
	}
	return r.spawn(g, def.workers(r.env))
}

func (r *run) spawn(g *group, n int) error {
	if n == 0 {
		return nil
	}
	cpus, err := r.cg.EffectiveCPUs(g.def.Name)
	if err != nil {
		return err
	}
	base := g.started
	spec := workload.Spec{
		Kind: g.def.work(), Count: n, Cgroup: r.cg.Path(g.def.Name),
		Policy: g.def.Policy, Nice: g.def.Nice, MemPolicy: g.def.MemPolicy,
	}
	if !g.def.Affinity.IsZero() {
		// Resolve every worker's CPUs now, so errors surface before
		// anything starts.
		per := make([][]int, n)
		for i := range per {
			if per[i], err = g.def.Affinity.For(base+i, cpus, r.env); err != nil {
				return fmt.Errorf("cgroup %s: %w", g.def.Name, err)
			}
		}
		spec.AffinityFor = func(i int) []int { return per[i] }
	}
	set, err := r.start(spec)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", g.def.Name, err)
	}
	g.sets = append(g.sets, set)
	g.started += n
	return nil
}

func (r *run) setCpuset(name string, c Cpuset) error {
	g, err := r.group(name)
	if err != nil {
		return err
	}
	var cpus, mems []int
	if !c.IsZero() {
		if cpus, mems, err = c.Resolve(r.env); err != nil {
			return fmt.Errorf("cgroup %s: %w", name, err)
		}
	}
	return r.apply(g, cpus, mems)
}

// apply writes a cgroup's cpuset.cpus and cpuset.mems (nil clears them).
func (r *run) apply(g *group, cpus, mems []int) error {
	if err := r.cg.SetCPUs(g.def.Name, cpus); err != nil {
		return err
	}
	g.cpus = cpus
	if err := r.cg.SetMems(g.def.Name, mems); err != nil {
		return err
	}
	g.mems = mems
	return nil
}

func (r *run) swap(a, b string) error {
	ga, err := r.group(a)
	if err != nil {
		return err
	}
	gb, err := r.group(b)
	if err != nil {
		return err
	}
	ca, ma, cb, mb := ga.cpus, ga.mems, gb.cpus, gb.mems
	if err := r.apply(ga, cb, mb); err != nil {
		return err
	}
	return r.apply(gb, ca, ma)
}

func (r *run) setAffinity(name string, a Affinity) error {
	g, err := r.group(name)
	if err != nil {
		return err
	}
	cpus, err := r.cg.EffectiveCPUs(name)
	if err != nil {
		return err
	}
	// Each application draws new random affinities (worker i of the
	// n-th SetAffinity of a cgroup always gets the same ones).
	g.affGen++
	i := 0
	for _, s := range g.sets {
		for _, pid := range s.Pids() {
			want, err := a.forGen(i, g.affGen, cpus, r.env)
			if err != nil {
				return fmt.Errorf("cgroup %s: %w", name, err)
			}
			if want == nil {
				want = cpus
			}
			if err := r.pin(pid, want); err != nil {
				return fmt.Errorf("cgroup %s: worker %d: %w", name, i, err)
			}
			i++
		}
	}
	return nil
}

// setProcessAffinity pins every thread of pid; a thread or process that
// exited meanwhile is skipped.
func setProcessAffinity(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return threads.Each(pid, func(tid int) error {
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("sched_setaffinity(%d, %v): %w", tid, cpus, err)
		}
		return nil
	})
}

func (r *run) moveAll(from, to string) error {
	gf, err := r.group(from)
	if err != nil {
		return err
	}
	if _, err := r.group(to); err != nil {
		return err
	}
	if err := r.cg.MoveAll(from, to); err != nil {
		return err
	}
	gf.movedTo = append(gf.movedTo, to)
	return nil
}

func (r *run) remove(name string) error {
	if g, err := r.group(name); err != nil {
		return err
	} else if g.removed {
		return fmt.Errorf("cgroup %s was already removed", name)
	}
	for _, n := range slices.Backward(r.order) { // children first
		if n != name && !strings.HasPrefix(n, name+"/") {
			continue
		}
		if err := r.stopGroup(r.groups[n]); err != nil {
			return err
		}
	}
	if err := r.cg.Remove(name); err != nil {
		return err
	}
	for _, n := range r.order {
		if n == name || strings.HasPrefix(n, name+"/") {
			r.groups[n].removed = true
		}
	}
	return nil
}

// stopGroup stops the group's running workers and keeps their reports.
func (r *run) stopGroup(g *group) error {
	var errs []error
	for _, s := range g.sets {
		reps, err := s.Stop()
		g.reports = append(g.reports, reps...)
		errs = append(errs, err)
	}
	g.sets = nil
	return errors.Join(errs...)
}

// stopAll stops every group's workers at once: a worker starved by another
// (a real-time hog on its CPU) can only report once the other stopped.
func (r *run) stopAll() error {
	var wg sync.WaitGroup
	errs := make([]error, len(r.order))
	for i, n := range r.order {
		g := r.groups[n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.stopGroup(g)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// refreshAllowed records every live cgroup's effective CPUs.
func (r *run) refreshAllowed() error {
	confined := false
	for _, n := range r.order {
		g := r.groups[n]
		if g.removed {
			continue
		}
		cpus, err := r.cg.EffectiveCPUs(n)
		if err != nil {
			return err
		}
		for _, c := range cpus {
			g.allowed[c] = true
		}
		if len(g.sets) > 0 && (len(cpus) > 0 && len(cpus) < len(r.env.CPUs) || r.pinned(g)) {
			confined = true
		}
	}
	r.env.confine(confined)
	return nil
}

// pinned reports whether the group's workers are pinned to CPUs by an
// affinity (the cgroup's, a SetAffinity op, or a work type that sets its
// own).
func (r *run) pinned(g *group) bool {
	return !g.def.Affinity.IsZero() || g.affGen > 0 ||
		g.def.Work != nil && strings.Contains(g.def.Work.String(), workload.TypeAffinityChurn)
}

// reports groups the workers' reports by the cgroup they started in, for
// the checks; a group's CPUs are all its cpusets allowed at any time, and
// those of the cgroups its tasks were moved into.
func (r *run) reports() []verify.CgroupReport {
	var out []verify.CgroupReport
	for _, n := range r.order {
		g := r.groups[n]
		if g.def.Background || g.def.NoWorkers && len(g.reports) == 0 {
			continue
		}
		allowed := map[int]bool{}
		for _, m := range r.movedClosure(n) {
			for c := range r.groups[m].allowed {
				allowed[c] = true
			}
		}
		cpus := make([]int, 0, len(allowed))
		for c := range allowed {
			cpus = append(cpus, c)
		}
		slices.Sort(cpus)
		workers := slices.Clone(g.reports)
		for i := range workers {
			workers[i].Index = i
		}
		out = append(out, verify.CgroupReport{Name: n, CPUs: cpus, Workers: workers})
	}
	return out
}

// movedClosure is the cgroup name and every cgroup its tasks may have ended
// up in through MoveAll ops, moves of moved tasks included.
func (r *run) movedClosure(name string) []string {
	seen := []string{name}
	for i := 0; i < len(seen); i++ {
		for _, to := range r.groups[seen[i]].movedTo {
			if !slices.Contains(seen, to) {
				seen = append(seen, to)
			}
		}
	}
	return seen
}
