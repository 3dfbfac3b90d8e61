package scenario

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/workload"
)

func mustApply(t *testing.T, r *run, ops ...Op) {
	t.Helper()
	for _, op := range ops {
		if err := op.apply(r); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	if err := r.refreshAllowed(); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func wantErr(t *testing.T, r *run, op Op, want string) {
	t.Helper()
	err := op.apply(r)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %v; want one containing %q", op, err, want)
	}
}

func reportsOf(n int, firstPID int) []workload.Report {
	var out []workload.Report
	for i := 0; i < n; i++ {
		out = append(out, workload.Report{Index: 10 + i, PID: firstPID + i})
	}
	return out
}

func set(cpus ...int) map[int]bool {
	m := map[int]bool{}
	for _, c := range cpus {
		m[c] = true
	}
	return m
}

// TestReports: reports are grouped by the cgroup the workers started in,
// in creation order, background cgroups and empty worker-less parents left
// out, workers renumbered from 0, and a cgroup's CPUs are every CPU it and
// the cgroups its tasks were moved to (transitively) allowed.
func TestReports(t *testing.T) {
	env := testEnv(t, "1n1l8c1t")
	r := newRun(env, nil, nil)
	add := func(g *group) {
		r.groups[g.def.Name] = g
		r.order = append(r.order, g.def.Name)
	}
	add(&group{def: CgroupDef{Name: "parent", NoWorkers: true}, allowed: set(0, 1, 2, 3, 4, 5, 6, 7)})
	add(&group{def: CgroupDef{Name: "parent/a"}, allowed: set(1, 0), movedTo: []string{"parent/b"}, reports: reportsOf(3, 100)})
	add(&group{def: CgroupDef{Name: "parent/b"}, allowed: set(2), movedTo: []string{"c", "parent/a"}, reports: reportsOf(1, 200)})
	add(&group{def: CgroupDef{Name: "c"}, allowed: set(3), reports: reportsOf(2, 300)})
	add(&group{def: CgroupDef{Name: "host", Background: true}, allowed: set(4), reports: reportsOf(2, 400)})
	add(&group{def: CgroupDef{Name: "holder", NoWorkers: true}, allowed: set(5, 6), reports: reportsOf(1, 500)})
	add(&group{def: CgroupDef{Name: "empty"}, allowed: set(7)})

	got := r.reports()
	want := []struct {
		name string
		cpus []int
		pids []int
	}{
		{"parent/a", []int{0, 1, 2, 3}, []int{100, 101, 102}},
		{"parent/b", []int{0, 1, 2, 3}, []int{200}},
		{"c", []int{3}, []int{300, 301}},
		{"holder", []int{5, 6}, []int{500}},
		{"empty", []int{7}, nil},
	}
	if len(got) != len(want) {
		var names []string
		for _, g := range got {
			names = append(names, g.Name)
		}
		t.Fatalf("reports for %v; want %d", names, len(want))
	}
	for i, w := range want {
		g := got[i]
		var pids []int
		for j, rep := range g.Workers {
			pids = append(pids, rep.PID)
			if rep.Index != j {
				t.Errorf("%s: worker %d has Index %d", g.Name, j, rep.Index)
			}
		}
		if g.Name != w.name || !slices.Equal(g.CPUs, w.cpus) || !slices.Equal(pids, w.pids) {
			t.Errorf("report %d: %s on %v pids %v; want %s on %v pids %v", i, g.Name, g.CPUs, pids, w.name, w.cpus, w.pids)
		}
	}
	if r.groups["parent/a"].reports[0].Index != 10 {
		t.Errorf("reports() renumbered the group's own reports")
	}
}

func TestAddAndCpusets(t *testing.T) {
	env := testEnv(t, "2n4l1c2t")
	r, cg, _ := newTestRun(env)
	mustApply(t, r, AddCgroup(CgroupDef{Name: "a", Workers: 1, Cpuset: LLCs(1)}))
	if !slices.Equal(cg.cpus["a"], []int{2, 3}) || cg.mems["a"] != nil {
		t.Errorf("a: cpus %v mems %v; want [2 3] and none", cg.cpus["a"], cg.mems["a"])
	}
	mustApply(t, r, SetCpuset("a", Nodes(1)))
	if !slices.Equal(cg.cpus["a"], []int{4, 5, 6, 7}) || !slices.Equal(cg.mems["a"], []int{1}) {
		t.Errorf("a: cpus %v mems %v; want 4-7 and [1]", cg.cpus["a"], cg.mems["a"])
	}
	mustApply(t, r, ClearCpuset("a"))
	if cg.cpus["a"] != nil || cg.mems["a"] != nil || r.groups["a"].cpus != nil {
		t.Errorf("a: cpus %v mems %v after ClearCpuset", cg.cpus["a"], cg.mems["a"])
	}
	if got := slices.Sorted(mapKeys(r.groups["a"].allowed)); !slices.Equal(got, env.CPUs) {
		t.Errorf("a was allowed %v; want every CPU it had: %v", got, env.CPUs)
	}
	// The kernel refuses children of a cgroup with tasks (no internal
	// processes): the fake does too.
	wantErr(t, r, AddCgroup(CgroupDef{Name: "a/b", NoWorkers: true}), "it has tasks")

	wantErr(t, r, AddCgroup(CgroupDef{Name: "a", Workers: 1}), "cgroup a already exists")
	wantErr(t, r, AddCgroup(CgroupDef{Name: "x", Cpuset: LLCs(9)}), "cgroup x: cpuset LLCs[9]: LLC 9 does not exist")
	wantErr(t, r, AddCgroup(CgroupDef{Name: "y", Workers: -2}), "Workers is -2")
	wantErr(t, r, AddCgroup(CgroupDef{Name: "no/parent"}), "parent no does not exist")
	wantErr(t, r, SetCpuset("zz", LLCs(0)), `no cgroup "zz" in this scenario`)
	wantErr(t, r, ClearCpuset("zz"), `no cgroup "zz" in this scenario`)
	wantErr(t, r, SetCpuset("a", Disjoint(3, 2)), "cgroup a: cpuset Disjoint(3/2)")
	wantErr(t, r, Spawn("zz", 1), `no cgroup "zz"`)
	wantErr(t, r, StopWorkers("zz"), `no cgroup "zz"`)
	wantErr(t, r, SetAffinity("zz", SingleCPU()), `no cgroup "zz"`)
	wantErr(t, r, SwapCpusets("a", "zz"), `no cgroup "zz"`)
	wantErr(t, r, MoveAll("a", "zz"), `no cgroup "zz"`)
	wantErr(t, r, MoveAll("zz", "a"), `no cgroup "zz"`)
	// A worker's affinity outside its cgroup fails when it starts.
	wantErr(t, r, AddCgroup(CgroupDef{Name: "pinned", Workers: 1, Cpuset: CPUs(0), Affinity: ExactAffinity(5)}),
		"cgroup pinned: worker 0: affinity [5]")
	wantErr(t, r, AddCgroup(CgroupDef{Name: "rand", Workers: 1, Cpuset: CPUs(0), Affinity: RandomAffinity(2)}),
		"cgroup rand: affinity random(2): want 1 to 1 CPUs")
}

func mapKeys(m map[int]bool) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSwapCpusets: the cpus and the mems of the two cgroups are exchanged.
func TestSwapCpusets(t *testing.T) {
	env := testEnv(t, "2n4l1c2t")
	r, cg, _ := newTestRun(env)
	mustApply(t, r,
		AddCgroup(CgroupDef{Name: "a", Workers: 1, Cpuset: Nodes(0)}),
		AddCgroup(CgroupDef{Name: "b", Workers: 1, Cpuset: Nodes(1)}),
		AddCgroup(CgroupDef{Name: "c", Workers: 1}),
		SwapCpusets("a", "b"))
	if !slices.Equal(cg.cpus["a"], []int{4, 5, 6, 7}) || !slices.Equal(cg.mems["a"], []int{1}) ||
		!slices.Equal(cg.cpus["b"], []int{0, 1, 2, 3}) || !slices.Equal(cg.mems["b"], []int{0}) {
		t.Errorf("after the swap: a %v mems %v, b %v mems %v", cg.cpus["a"], cg.mems["a"], cg.cpus["b"], cg.mems["b"])
	}
	mustApply(t, r, SwapCpusets("a", "c"))
	if cg.cpus["a"] != nil || cg.mems["a"] != nil || !slices.Equal(cg.cpus["c"], []int{4, 5, 6, 7}) || !slices.Equal(cg.mems["c"], []int{1}) {
		t.Errorf("after swapping with an unrestricted cgroup: a %v mems %v, c %v mems %v", cg.cpus["a"], cg.mems["a"], cg.cpus["c"], cg.mems["c"])
	}
	if !slices.Equal(r.groups["c"].cpus, []int{4, 5, 6, 7}) || r.groups["a"].cpus != nil {
		t.Errorf("the run's record: a %v, c %v", r.groups["a"].cpus, r.groups["c"].cpus)
	}
}

// TestSpawnAndAffinity: spawned workers continue the cgroup's worker
// indices, SetAffinity re-pins every running worker, and each SetAffinity
// with RandomAffinity draws new CPUs.
func TestSpawnAndAffinity(t *testing.T) {
	env := testEnv(t, "1n1l4c1t")
	r, _, w := newTestRun(env)
	mustApply(t, r, AddCgroup(CgroupDef{Name: "a", Workers: 1, Affinity: SingleCPU()}), Spawn("a", 2))
	g := r.groups["a"]
	if g.started != 3 || len(g.sets) != 2 {
		t.Fatalf("started %d workers in %d sets; want 3 in 2", g.started, len(g.sets))
	}
	var pids []int
	for _, s := range g.sets {
		pids = append(pids, s.Pids()...)
	}
	for i, pid := range pids {
		if !slices.Equal(w.affs[pid], []int{i}) {
			t.Errorf("worker %d pinned to %v; want [%d]", i, w.affs[pid], i)
		}
	}
	if w.specs[1].Count != 2 || w.specs[1].Kind.Name() != workload.TypeCpuSpin || w.specs[1].Cgroup != fakeRoot+"/a" {
		t.Errorf("Spawn's spec: %+v", w.specs[1])
	}

	mustApply(t, r, SetAffinity("a", Affinity{}))
	for _, pid := range pids {
		if !slices.Equal(w.affs[pid], env.CPUs) {
			t.Errorf("inherit: pid %d pinned to %v; want the cgroup's %v", pid, w.affs[pid], env.CPUs)
		}
	}
	draws := map[int][]string{}
	for range 4 {
		mustApply(t, r, SetAffinity("a", RandomAffinity(2)))
		for _, pid := range pids {
			if len(w.affs[pid]) != 2 {
				t.Errorf("pid %d pinned to %v; want 2 CPUs", pid, w.affs[pid])
			}
			draws[pid] = append(draws[pid], topologyString(w.affs[pid]))
		}
	}
	changed := false
	for _, d := range draws {
		if len(slices.Compact(slices.Clone(d))) > 1 {
			changed = true
		}
	}
	if !changed {
		t.Errorf("four SetAffinity(RandomAffinity(2)) gave every worker the same CPUs each time: %v", draws)
	}
	wantErr(t, r, SetAffinity("a", RandomAffinity(5)), "cgroup a: affinity random(5): want 1 to 4 CPUs")
	pinErr := errors.New("boom")
	r.pin = func(int, []int) error { return pinErr }
	if err := SetAffinity("a", SingleCPU()).apply(r); !errors.Is(err, pinErr) || !strings.Contains(err.Error(), "cgroup a: worker 0") {
		t.Errorf("pin error: %v", err)
	}
}

func topologyString(cpus []int) string {
	var b strings.Builder
	for _, c := range cpus {
		b.WriteByte(byte('0' + c))
	}
	return b.String()
}

// TestStopAndRemove: StopWorkers and RemoveCgroup keep the workers'
// reports; removing a parent stops its children's workers first; removed
// cgroups are no longer refreshed; removing a cgroup that is not the
// scenario's, or twice, fails.
func TestStopAndRemove(t *testing.T) {
	env := testEnv(t, "1n1l2c1t")
	r, cg, w := newTestRun(env)
	mustApply(t, r,
		AddCgroup(CgroupDef{Name: "parent", NoWorkers: true}),
		AddCgroup(CgroupDef{Name: "parent/a", Workers: 2}),
		AddCgroup(CgroupDef{Name: "parent/b", Workers: 1}),
		AddCgroup(CgroupDef{Name: "other", Workers: 1}),
		StopWorkers("other"))
	if len(r.groups["other"].reports) != 1 || len(r.groups["other"].sets) != 0 || !w.sets[2].stopped {
		t.Errorf("StopWorkers: %d reports, %d sets left", len(r.groups["other"].reports), len(r.groups["other"].sets))
	}
	mustApply(t, r, RemoveCgroup("parent"))
	for _, n := range []string{"parent", "parent/a", "parent/b"} {
		g := r.groups[n]
		if !g.removed || len(g.sets) != 0 || len(g.reports) != g.started {
			t.Errorf("%s: removed %v, %d sets, %d reports of %d workers", n, g.removed, len(g.sets), len(g.reports), g.started)
		}
	}
	if slices.Contains(cg.made, "parent") || slices.Contains(cg.made, "parent/a") || !slices.Contains(cg.made, "other") {
		t.Errorf("cgroups left: %v", cg.made)
	}
	if err := r.refreshAllowed(); err != nil { // must skip the removed ones
		t.Errorf("refresh after remove: %v", err)
	}
	wantErr(t, r, RemoveCgroup("parent"), "cgroup parent was already removed")
	wantErr(t, r, RemoveCgroup("parent/a"), "cgroup parent/a was already removed")
	wantErr(t, r, RemoveCgroup("nope"), `no cgroup "nope" in this scenario`)
	if err := r.stopAll(); err != nil { // nothing is stopped twice
		t.Errorf("stopAll: %v", err)
	}
	if got := len(r.reports()); got != 3 {
		t.Errorf("%d cgroup reports; want 3 (parent/a, parent/b, other)", got)
	}
}

func TestMoveAll(t *testing.T) {
	env := testEnv(t, "1n1l4c1t")
	r, cg, _ := newTestRun(env)
	mustApply(t, r,
		AddCgroup(CgroupDef{Name: "a", Workers: 2, Cpuset: CPUs(0)}),
		AddCgroup(CgroupDef{Name: "b", NoWorkers: true, Cpuset: CPUs(1)}),
		MoveAll("a", "b"))
	if len(cg.procs["a"]) != 0 || len(cg.procs["b"]) != 2 {
		t.Errorf("after MoveAll: a %v, b %v", cg.procs["a"], cg.procs["b"])
	}
	if !slices.Equal(r.groups["a"].movedTo, []string{"b"}) {
		t.Errorf("movedTo %v", r.groups["a"].movedTo)
	}
	if err := r.stopAll(); err != nil {
		t.Fatal(err)
	}
	reps := r.reports()
	if len(reps) != 1 || reps[0].Name != "a" || !slices.Equal(reps[0].CPUs, []int{0, 1}) || len(reps[0].Workers) != 2 {
		t.Errorf("reports %+v; want a with 2 workers on CPUs 0 and 1", reps)
	}
}

func TestSteps(t *testing.T) {
	env := testEnv(t, "1n1l2c1t")
	env.Duration = 0
	r, _, _ := newTestRun(env)
	n := 0
	count := testOp("count", func() error { n++; return nil })
	start := time.Now()
	if err := r.steps([]Step{{Ops: []Op{count}, Hold: HoldFor(100 * time.Millisecond), Every: 20 * time.Millisecond, Loop: []Op{count}}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("the step held %v; want 100ms", d)
	}
	if n < 2 || n > 6 { // 1 + about 4 loops (fewer on a slow host)
		t.Errorf("ops applied %d times; want the op once and the loop up to 5 times", n)
	}

	boom := testOp("boom", func() error { return errors.New("exploded") })
	err := r.steps([]Step{{}, {Ops: []Op{count, boom, count}}})
	if err == nil || err.Error() != "step 2: boom: exploded" {
		t.Errorf("error %v; want step 2: boom: exploded", err)
	}
	err = r.steps([]Step{{Hold: HoldFor(30 * time.Millisecond), Every: 5 * time.Millisecond, Loop: []Op{boom}}})
	if err == nil || err.Error() != "step 1 loop: boom: exploded" {
		t.Errorf("error %v; want step 1 loop: boom: exploded", err)
	}
	// A loop without Every is not run.
	n = 0
	if err := r.steps([]Step{{Hold: HoldFor(10 * time.Millisecond), Loop: []Op{count}}}); err != nil || n != 0 {
		t.Errorf("loop without Every: %v, %d applications", err, n)
	}
}

func TestExecuteNeedsManager(t *testing.T) {
	_, err := Execute(testEnv(t, "1n1l2c1t"))
	if err == nil || !strings.Contains(err.Error(), "no cgroup manager") {
		t.Errorf("Execute without a manager: %v", err)
	}
}

// TestChecksOnFakeReports runs the default checks over what a dry run
// reports, so the grouping feeds verify.Check something it accepts.
func TestChecksOnFakeReports(t *testing.T) {
	env := testEnv(t, "1n2l1c1t")
	r, _, _ := newTestRun(env)
	mustApply(t, r, AddCgroup(CgroupDef{Name: "a", Workers: 2}), AddCgroup(CgroupDef{Name: "b", Workers: 2, Cpuset: LLCs(1)}))
	if err := r.stopAll(); err != nil {
		t.Fatal(err)
	}
	res := verify.Check(verify.Config{}, r.reports(), verify.Env{})
	if len(res.Cgroups) != 2 || res.Cgroups[0].Workers != 2 {
		t.Errorf("checks over the fake reports: %s", res)
	}
}
