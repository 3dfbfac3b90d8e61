package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

func TestCgroupDefValidate(t *testing.T) {
	env := testEnv(t, "1n1l2c1t") // WorkersPerCgroup 2
	odd := testEnv(t, "1n1l2c1t")
	odd.WorkersPerCgroup = 3
	for _, tc := range []struct {
		name string
		def  CgroupDef
		env  *Env
		want string // "" for valid
	}{
		{"defaults", CgroupDef{Name: "cg_0"}, env, ""},
		{"nested", CgroupDef{Name: "a/b", Workers: 1}, env, ""},
		{"empty name", CgroupDef{Workers: 1}, env, "CgroupDef: empty Name"},
		{"negative workers", CgroupDef{Name: "cg_0", Workers: -1}, env,
			"cgroup cg_0: Workers is -1: must be at least 1 (0 means the test's WorkersPerCgroup)"},
		{"pipe pairs", CgroupDef{Name: "p", Workers: 4, Work: workload.PipeIo()}, env, ""},
		{"pipe odd", CgroupDef{Name: "p", Workers: 3, Work: workload.PipeIo()}, env,
			"cgroup p: 3 workers cannot be split into groups of 2 for PipeIo: use a multiple of 2"},
		{"pipe odd default", CgroupDef{Name: "p", Work: workload.PipeIo()}, odd,
			"cgroup p: 3 workers cannot be split into groups of 2 for PipeIo: use a multiple of 2"},
		{"pipe without workers", CgroupDef{Name: "p", NoWorkers: true, Work: workload.PipeIo()}, odd, ""},
		{"fan-out", CgroupDef{Name: "f", Workers: 8, Work: workload.FutexFanOut(3)}, env, ""},
		{"fan-out odd", CgroupDef{Name: "f", Workers: 6, Work: workload.FutexFanOut(3)}, env,
			"cgroup f: 6 workers cannot be split into groups of 4 for FutexFanOut(3): use a multiple of 4"},
		{"bad kind", CgroupDef{Name: "b", Work: workload.Bursty(0, 0)}, env, "cgroup b: workload: invalid Bursty"},
	} {
		err := tc.def.validate(tc.env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestCgroupDefDefaults(t *testing.T) {
	env := testEnv(t, "1n1l2c1t")
	env.WorkersPerCgroup = 5
	if k := (CgroupDef{}).work(); k.Name() != workload.TypeCpuSpin {
		t.Errorf("default work %s; want CpuSpin", k)
	}
	if k := (CgroupDef{Work: workload.YieldHeavy()}).work(); k.Name() != workload.TypeYieldHeavy {
		t.Errorf("work %s; want YieldHeavy", k)
	}
	for _, tc := range []struct {
		def  CgroupDef
		want int
	}{{CgroupDef{}, 5}, {CgroupDef{Workers: 3}, 3}, {CgroupDef{NoWorkers: true, Workers: 3}, 0}} {
		if got := tc.def.workers(env); got != tc.want {
			t.Errorf("%+v: workers = %d; want %d", tc.def, got, tc.want)
		}
	}
}

func TestHold(t *testing.T) {
	env := &Env{Duration: 3 * time.Second}
	for _, tc := range []struct {
		h    Hold
		want time.Duration
	}{
		{Hold{}, 0},
		{HoldFrac(1), 3 * time.Second},
		{HoldFrac(0.5), 1500 * time.Millisecond},
		{HoldFrac(1.0 / 3), time.Second},
		{HoldFor(250 * time.Millisecond), 250 * time.Millisecond},
		{HoldFor(0), 0},
	} {
		if got := tc.h.duration(env); got != tc.want {
			t.Errorf("%+v: duration %v; want %v", tc.h, got, tc.want)
		}
	}
	if got := HoldFrac(0.5).duration(&Env{}); got != 0 {
		t.Errorf("HoldFrac with no test duration: %v", got)
	}
}

func TestOpStrings(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{AddCgroup(CgroupDef{Name: "a"}), "add a"},
		{RemoveCgroup("a"), "remove a"},
		{SetCpuset("a", LLCs(1)), "cpuset a=LLCs[1]"},
		{ClearCpuset("a"), "clear cpuset a"},
		{SwapCpusets("a", "b"), "swap cpusets a<->b"},
		{Spawn("a", 2), "spawn 2 in a"},
		{StopWorkers("a"), "stop workers of a"},
		{SetAffinity("a", SingleCPU()), "affinity a=single"},
		{MoveAll("a", "b"), "move all a->b"},
	} {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("op %q; want %q", got, tc.want)
		}
	}
	if got := describe(nil); got != "no change" {
		t.Errorf("describe(nil) = %q", got)
	}
	if got := describe([]Op{RemoveCgroup("a"), ClearCpuset("b")}); got != "remove a, clear cpuset b" {
		t.Errorf("describe = %q", got)
	}
}
