package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

// run is the state of one scenario execution.
type run struct {
	env    *Env
	groups map[string]*group
	order  []string // creation order
}

// group is a cgroup of the scenario and everything its workers reported.
type group struct {
	def     CgroupDef
	cpus    []int // CPUs its workers may use now (nil: unrestricted)
	sets    []*workload.Set
	started int // workers started so far, for indices
	reports []workload.Report
	allowed map[int]bool // every CPU its effective cpuset held at any time
	movedTo []string     // cgroups its tasks were moved into
}

// Execute runs the steps and returns the checks' result over every
// worker's report. The error reports a scenario that could not run as
// written (a bad cpuset, a cgroup that does not exist, a worker that died).
func Execute(env *Env, steps ...Step) (verify.Result, error) {
	if env.Cgroups == nil {
		return verify.Result{}, errors.New("scenario: no cgroup manager")
	}
	r := &run{env: env, groups: map[string]*group{}}
	err := r.steps(steps)
	stopErr := r.stopAll()
	cleanErr := env.Cgroups.Cleanup()
	if err = errors.Join(err, stopErr, cleanErr); err != nil {
		return verify.Result{}, err
	}
	return verify.Check(env.Checks, r.reports(), env.Verify), nil
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
	if err := r.env.Cgroups.Create(def.Name); err != nil {
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
	cpus, err := r.env.Cgroups.EffectiveCPUs(g.def.Name)
	if err != nil {
		return err
	}
	base := g.started
	spec := workload.Spec{
		Kind: g.def.work(), Count: n, Cgroup: r.env.Cgroups.Path(g.def.Name),
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
	set, err := workload.Start(spec)
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
	if c.IsZero() {
		if err := r.env.Cgroups.SetCPUs(name, nil); err != nil {
			return err
		}
		g.cpus = nil
		return r.env.Cgroups.SetMems(name, nil)
	}
	cpus, mems, err := c.Resolve(r.env)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", name, err)
	}
	if err := r.env.Cgroups.SetCPUs(name, cpus); err != nil {
		return err
	}
	g.cpus = cpus
	return r.env.Cgroups.SetMems(name, mems)
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
	ca, cb := ga.cpus, gb.cpus
	if err := r.env.Cgroups.SetCPUs(a, cb); err != nil {
		return err
	}
	if err := r.env.Cgroups.SetCPUs(b, ca); err != nil {
		return err
	}
	ga.cpus, gb.cpus = cb, ca
	return nil
}

func (r *run) setAffinity(name string, a Affinity) error {
	g, err := r.group(name)
	if err != nil {
		return err
	}
	cpus, err := r.env.Cgroups.EffectiveCPUs(name)
	if err != nil {
		return err
	}
	i := 0
	for _, s := range g.sets {
		for _, pid := range s.Pids() {
			want, err := a.For(i, cpus, r.env)
			if err != nil {
				return fmt.Errorf("cgroup %s: %w", name, err)
			}
			if want == nil {
				want = cpus
			}
			if err := setProcessAffinity(pid, want); err != nil {
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
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("sched_setaffinity(%d, %v): %w", tid, cpus, err)
		}
	}
	return nil
}

func (r *run) moveAll(from, to string) error {
	gf, err := r.group(from)
	if err != nil {
		return err
	}
	if _, err := r.group(to); err != nil {
		return err
	}
	if err := r.env.Cgroups.MoveAll(from, to); err != nil {
		return err
	}
	gf.movedTo = append(gf.movedTo, to)
	return nil
}

func (r *run) remove(name string) error {
	for _, n := range slices.Backward(r.order) { // children first
		if n != name && !strings.HasPrefix(n, name+"/") {
			continue
		}
		if err := r.stopGroup(r.groups[n]); err != nil {
			return err
		}
	}
	return r.env.Cgroups.Remove(name)
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
	for _, n := range r.order {
		if _, err := os.Stat(r.env.Cgroups.Path(n)); err != nil {
			continue // removed
		}
		cpus, err := r.env.Cgroups.EffectiveCPUs(n)
		if err != nil {
			return err
		}
		for _, c := range cpus {
			r.groups[n].allowed[c] = true
		}
	}
	return nil
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
		for c := range g.allowed {
			allowed[c] = true
		}
		for _, to := range g.movedTo {
			for c := range r.groups[to].allowed {
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
