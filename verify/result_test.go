package verify

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

// failingResult fails starvation (worker 2), spread and isolation on
// statsCgroup, with scaled-limit and skipped-check notes.
func failingResult() Result {
	cfg := Merge(Defaults(), Config{MaxP99WakeLatencyNs: Val(2e6), MaxSpreadPct: Val(5), Isolation: On})
	cgs := []CgroupReport{statsCgroup(), {Name: "cg_1", Workers: []workload.Report{healthy()}}}
	return Check(cfg, cgs, Env{Scale: 3, Accel: "tcg"})
}

func TestResultString(t *testing.T) {
	got := failingResult().String()
	for _, want := range []string{
		"FAIL: 3 check(s) failed\n",
		"\n  [starvation] cgroup cg_0: worker 2 starved: 0 work units in 2.000 s wall, 1.400 s CPU\n",
		"\n  [spread] cgroup cg_0: spread 40.0% > spread limit 5% x3 (tcg) = 15% (worker 1 off-CPU 60.0%, worker 0 20.0%)\n",
		"\n  [isolation] cgroup cg_0: worker 2 ran on CPU(s) 5 outside its cpuset 0-3\n",
		"\n  note: scaled for slowdown: spread limit 5% x3 (tcg) = 15%\n",
		"\n  note: scaled for slowdown: gap limit 2000 ms x3 (tcg) = 6000 ms\n",
		"\n  note: scaled for slowdown: wake p99 limit 2000000 ns x3 (tcg) = 6000000 ns\n",
		"\n  note: cgroup cg_1: wake p99 not checked: no wake latency samples\n",
		"\n  cgroup  workers  work units  off-CPU% mean/min/max  spread  max gap       p99 wake (n)  migr/iter  units/CPU-s  CPUs used\n",
		"\n  cg_0    3        1600        36.7/20.0/60.0         40.0    40.0 ms (w1)  3ms (3)       0.100      458.3        0-2,5\n",
		"\n  cg_1    1        1000        0.0/0.0/0.0            0.0     0.0 ms (w0)   -             0.000      500.0        -",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("String() lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasPrefix(got, "FAIL") || strings.HasSuffix(got, "\n") {
		t.Errorf("String() = %q: want a FAIL header first and no trailing newline", got)
	}
	// failures come before notes, notes before the table.
	if i, j, k := strings.Index(got, "[isolation]"), strings.Index(got, "note:"), strings.Index(got, "cgroup  workers"); !(i < j && j < k) {
		t.Errorf("order of sections wrong:\n%s", got)
	}
}

func TestResultStringPass(t *testing.T) {
	got := Check(Config{}, []CgroupReport{statsCgroup()}, Env{}).String()
	want := "PASS\n" +
		"  cgroup  workers  work units  off-CPU% mean/min/max  spread  max gap       p99 wake (n)  migr/iter  units/CPU-s  CPUs used\n" +
		"  cg_0    3        1600        36.7/20.0/60.0         40.0    40.0 ms (w1)  3ms (3)       0.100      458.3        0-2,5"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if got := Pass().String(); got != "PASS" {
		t.Errorf("Pass().String() = %q", got)
	}
	if got := Fail("custom check failed: %d > %d", 3, 2).String(); got != "FAIL: 1 check(s) failed\n  [custom] custom check failed: 3 > 2" {
		t.Errorf("Fail().String() = %q", got)
	}
}

func TestResultJSONRoundTrip(t *testing.T) {
	for name, r := range map[string]Result{
		"failing":   failingResult(),
		"passing":   Check(Defaults(), []CgroupReport{{Name: "cg", Workers: []workload.Report{healthy(), healthy()}}}, Env{}),
		"custom":    Fail("boom"),
		"pass":      Pass(),
		"merged":    Fail("user").Merge(failingResult()),
		"no worker": Check(Defaults(), []CgroupReport{{Name: "e"}}, Env{}),
		"empty cpu sets": Check(Defaults(), []CgroupReport{{Name: "e", CPUs: []int{},
			Workers: []workload.Report{{CPUs: []int{}, WakeLatencies: []time.Duration{}}}}}, Env{}),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back Result
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, r) {
				t.Errorf("round trip changed the result:\n got %+v\nwant %+v\njson %s", back, r, b)
			}
		})
	}
}

func TestFailureJSONKeepsWorkerZero(t *testing.T) {
	r := Check(only(func(c *Config) { c.NotStarved = On }), []CgroupReport{{Name: "cg", Workers: []workload.Report{{}}}}, Env{})
	if len(r.Failures) != 1 || r.Failures[0].Worker != 0 {
		t.Fatalf("failures = %+v", r.Failures)
	}
	b, _ := json.Marshal(r.Failures[0])
	if !strings.Contains(string(b), `"worker":0`) {
		t.Errorf("worker 0 dropped: %s", b)
	}
	b, _ = json.Marshal(Fail("x").Failures[0])
	if !strings.Contains(string(b), `"worker":-1`) {
		t.Errorf("custom failure: %s", b)
	}
	b, _ = json.Marshal(failingResult().Failures[1]) // spread: per cgroup
	if !strings.Contains(string(b), `"worker":-1`) || !strings.Contains(string(b), `"check":"spread"`) {
		t.Errorf("spread failure: %s", b)
	}
}

func TestMerge(t *testing.T) {
	user := Fail("user check")
	chk := failingResult()
	m := user.Merge(chk)
	if m.Passed {
		t.Error("merge of failures passed")
	}
	if len(m.Failures) != 1+len(chk.Failures) || m.Failures[0].Check != "custom" || m.Failures[1].Check != "starvation" {
		t.Errorf("failures = %+v", m.Failures)
	}
	if !reflect.DeepEqual(m.Notes, chk.Notes) || !reflect.DeepEqual(m.Cgroups, chk.Cgroups) {
		t.Errorf("notes/cgroups lost: %+v", m)
	}
	// user pass + Check pass: passes, keeps the statistics.
	ok := Check(Config{}, []CgroupReport{statsCgroup()}, Env{})
	if m := Pass().Merge(ok); !m.Passed || len(m.Cgroups) != 1 {
		t.Errorf("pass merge = %+v", m)
	}
	// user pass + Check fail: fails.
	if m := Pass().Merge(chk); m.Passed || len(m.Failures) != len(chk.Failures) {
		t.Errorf("pass+fail merge = %+v", m)
	}
	// merging does not alias the inputs.
	m = ok.Merge(ok)
	m.Cgroups[0].Name = "changed"
	if ok.Cgroups[0].Name != "cg_0" {
		t.Error("Merge aliases Cgroups")
	}
}
