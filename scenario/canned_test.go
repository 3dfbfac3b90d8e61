package scenario

import (
	"slices"
	"strings"
	"testing"
)

// cannedNames are the canned scenarios ktstr.RunScenario documents.
var cannedNames = []string{
	"steady", "steady_llc", "oversubscribed", "cpuset_apply", "cpuset_clear", "cpuset_resize",
	"cgroup_add", "cgroup_remove", "affinity_change", "affinity_pinned", "host_contention",
	"mixed_workloads", "nested_steady", "nested_task_move",
}

func TestCatalog(t *testing.T) {
	cat := Catalog()
	var names []string
	for _, s := range cat {
		names = append(names, s.Name)
		if s.Description == "" || s.Steps == nil {
			t.Errorf("%s: no description or steps", s.Name)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Catalog is not sorted by name: %v", names)
	}
	want := slices.Sorted(slices.Values(cannedNames))
	if !slices.Equal(names, want) {
		t.Errorf("Catalog names %v; want %v", names, want)
	}
	cat[0].Name = "changed" // a copy
	if Catalog()[0].Name == "changed" {
		t.Errorf("Catalog returns the catalog itself")
	}
}

func TestLookup(t *testing.T) {
	for _, name := range cannedNames {
		s, err := Lookup(name)
		if err != nil || s.Name != name {
			t.Errorf("Lookup(%q) = %q, %v", name, s.Name, err)
		}
	}
	_, err := Lookup("no_such_scenario")
	if err == nil {
		t.Fatal("Lookup of an unknown name succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, `"no_such_scenario"`) {
		t.Errorf("error %q does not name the unknown scenario", msg)
	}
	for _, name := range cannedNames {
		if !strings.Contains(msg, name) {
			t.Errorf("error %q does not list %s", msg, name)
		}
	}
}

// drive applies steps like run.steps without holding, and applies each
// step's Loop ops twice.
func drive(r *run, steps []Step) error {
	for _, st := range steps {
		for _, op := range st.Ops {
			if err := op.apply(r); err != nil {
				return err
			}
		}
		if err := r.refreshAllowed(); err != nil {
			return err
		}
		for range 2 {
			for _, op := range st.Loop {
				if err := op.apply(r); err != nil {
					return err
				}
			}
			if err := r.refreshAllowed(); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestCannedScenariosDryRun runs every canned scenario on a fake cgroup
// tree with fake workers, on 2- and 8-CPU environments: every cgroup the
// ops name exists, every cpuset and affinity resolves, the workers split
// into groups, and every worker's report ends up in its cgroup's.
func TestCannedScenariosDryRun(t *testing.T) {
	envs := map[string]func(t *testing.T) *Env{
		"1n1l2c1t": func(t *testing.T) *Env { return testEnv(t, "1n1l2c1t") },
		"1n2l1c1t": func(t *testing.T) *Env { return testEnv(t, "1n2l1c1t") },
		"1n2l4c1t": func(t *testing.T) *Env { return testEnv(t, "1n2l4c1t") },
		"2n4l1c2t": func(t *testing.T) *Env { return testEnv(t, "2n4l1c2t") },
		"odd":      func(t *testing.T) *Env { e := testEnv(t, "2n4l1c2t"); e.WorkersPerCgroup = 1; return e },
	}
	for _, s := range Catalog() {
		for envName, mk := range envs {
			t.Run(s.Name+"/"+envName, func(t *testing.T) {
				env := mk(t)
				r, cg, w := newTestRun(env)
				if err := drive(r, s.Steps(env)); err != nil {
					t.Fatalf("%v\ncgroup changes: %v", err, cg.log)
				}
				if err := r.stopAll(); err != nil {
					t.Fatal(err)
				}
				for _, set := range w.sets {
					if !set.stopped {
						t.Errorf("a worker set was not stopped: %v", set.pids)
					}
				}
				if err := cg.Cleanup(); err != nil || len(cg.made) > 0 {
					t.Errorf("cleanup: %v, left %v", err, cg.made)
				}
				reps := r.reports()
				if len(reps) == 0 {
					t.Fatal("no cgroup reports")
				}
				workers := 0
				for _, rep := range reps {
					if len(rep.Workers) == 0 {
						t.Errorf("cgroup %s has no workers", rep.Name)
					}
					workers += len(rep.Workers)
					if len(rep.CPUs) == 0 {
						t.Errorf("cgroup %s: no CPUs recorded", rep.Name)
					}
					for _, c := range rep.CPUs {
						if !slices.Contains(env.CPUs, c) {
							t.Errorf("cgroup %s: CPU %d is not usable", rep.Name, c)
						}
					}
					if g := r.groups[rep.Name]; g.def.Background {
						t.Errorf("background cgroup %s is checked", rep.Name)
					}
				}
				total := 0
				for _, set := range w.sets {
					total += len(set.pids)
				}
				bg := 0
				for _, g := range r.groups {
					if g.def.Background {
						bg += g.started
					}
				}
				if workers != total-bg {
					t.Errorf("%d workers reported; %d started, %d of them in the background", workers, total, bg)
				}
				checkCanned(t, s.Name, env, r, w)
			})
		}
	}
}

// checkCanned checks what is particular to each canned scenario.
func checkCanned(t *testing.T, name string, env *Env, r *run, w *fakeWorkers) {
	t.Helper()
	n := len(env.CPUs)
	started := func(g string) int { return r.groups[g].started }
	allowed := func(g string) []int {
		var cpus []int
		for c := range r.groups[g].allowed {
			cpus = append(cpus, c)
		}
		slices.Sort(cpus)
		return cpus
	}
	pids := func(g string) []int {
		var out []int
		for _, rep := range r.groups[g].reports {
			out = append(out, rep.PID)
		}
		return out
	}
	switch name {
	case "steady_llc":
		if len(r.order) != env.Topology.LLCs {
			t.Errorf("%d cgroups for %d LLCs", len(r.order), env.Topology.LLCs)
		}
		for l, g := range r.order {
			if want := env.Topology.LLCCPUs(l); !slices.Equal(allowed(g), want) {
				t.Errorf("%s ran on %v; want LLC %d's %v", g, allowed(g), l, want)
			}
		}
	case "oversubscribed":
		if got := started("cg_0") + started("cg_1"); got != 2*n {
			t.Errorf("%d workers on %d CPUs; want %d", got, n, 2*n)
		}
	case "cpuset_clear", "nested_task_move":
		a, b := "cg_0", "cg_1"
		if name == "nested_task_move" {
			a, b = "parent/a", "parent/b"
		}
		d0, _, _ := Disjoint(0, 2).Resolve(env)
		d1, _, _ := Disjoint(1, 2).Resolve(env)
		if name == "cpuset_clear" {
			d0, d1 = env.CPUs, env.CPUs
		}
		if !slices.Equal(allowed(a), d0) || !slices.Equal(allowed(b), d1) {
			t.Errorf("%s ran on %v and %s on %v; want %v and %v", a, allowed(a), b, allowed(b), d0, d1)
		}
		if name == "nested_task_move" {
			rep := r.reports()[0]
			if rep.Name != a || !slices.Equal(rep.CPUs, env.CPUs) {
				t.Errorf("report of %s: %s on %v; want its CPUs and those of %s, all of %v", a, rep.Name, rep.CPUs, b, env.CPUs)
			}
		}
	case "affinity_pinned":
		for _, g := range []string{"cg_0", "cg_1"} {
			for i, pid := range pids(g) {
				if a := w.affs[pid]; !slices.Equal(a, []int{env.CPUs[i%n]}) {
					t.Errorf("%s worker %d pinned to %v; want [%d]", g, i, a, env.CPUs[i%n])
				}
			}
		}
	case "affinity_change":
		for _, g := range []string{"cg_0", "cg_1"} {
			for _, pid := range pids(g) {
				if a := w.affs[pid]; len(a) != max(1, n/2) {
					t.Errorf("%s: pid %d pinned to %v; want %d CPUs", g, pid, a, max(1, n/2))
				}
			}
		}
	case "host_contention":
		if !r.groups["host"].def.Background || started("host") != n {
			t.Errorf("host cgroup: background %v, %d workers", r.groups["host"].def.Background, started("host"))
		}
	case "cgroup_remove":
		if !r.groups["cg_1"].removed || len(r.groups["cg_1"].reports) != started("cg_1") {
			t.Errorf("cg_1: removed %v, %d reports of %d workers", r.groups["cg_1"].removed, len(r.groups["cg_1"].reports), started("cg_1"))
		}
	case "nested_steady":
		if started("parent") != 0 {
			t.Errorf("parent has %d workers", started("parent"))
		}
	}
}

// TestCannedScenariosSteps runs every canned scenario's steps through
// run.steps (holding for nothing) on a 2-CPU environment.
func TestCannedScenariosSteps(t *testing.T) {
	for _, s := range Catalog() {
		env := testEnv(t, "1n2l1c1t")
		env.Duration = 0
		var lines []string
		env.Logf = func(format string, args ...any) { lines = append(lines, format) }
		r, _, _ := newTestRun(env)
		steps := s.Steps(env)
		if err := r.steps(steps); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		if len(lines) != len(steps) {
			t.Errorf("%s: %d log lines for %d steps", s.Name, len(lines), len(steps))
		}
		if err := r.stopAll(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}
