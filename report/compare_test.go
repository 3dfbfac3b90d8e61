package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/verify"
)

func rec(test, sched string, passed bool, spread, p99 float64) Record {
	return Record{Test: test, Topology: "1n1l2c1t", Scheduler: sched, Profile: "default", Kernel: "6.12", Passed: passed,
		Result: &verify.Result{Cgroups: []verify.CgroupStats{{Name: "cg_0", SpreadPct: spread, P99WakeNs: p99, MeanWorkRate: 100}}}}
}

func TestMannWhitneyP(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		want float64
	}{
		// Exact: 3 vs 3 fully separated is the smallest p there is, 2/20.
		{[]float64{1, 2, 3}, []float64{4, 5, 6}, 0.1},
		{[]float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 2.0 / 252},
		// Interleaved: no evidence.
		{[]float64{1, 3, 5}, []float64{2, 4, 6}, 0.7},
		{[]float64{1}, nil, 1},
	} {
		if got := MannWhitneyP(c.a, c.b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("MannWhitneyP(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	// Ties: the normal approximation, still small for separated samples.
	if p := MannWhitneyP([]float64{1, 1, 2, 2, 2, 1, 1, 2}, []float64{5, 5, 6, 6, 5, 6, 5, 6}); p > 0.01 {
		t.Errorf("separated tied samples: p %v", p)
	}
}

func TestCompare(t *testing.T) {
	base := []Record{rec("TestA", "scx_simple", true, 2, 1e6), rec("TestB", "scx_simple", true, 2, 1e6), rec("TestOld", "scx_simple", true, 1, 1)}
	new := []Record{rec("TestA", "scx_simple", true, 10, 1e6), rec("TestB", "scx_simple", false, 2, 0.5e6), rec("TestNew", "scx_simple", true, 1, 1)}
	c, err := Compare(base, new, Metrics(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pairs) != 2 || c.Regressions != 2 || len(c.OnlyBase) != 1 || c.OnlyBase[0].Test != "TestOld" || len(c.OnlyNew) != 1 {
		t.Fatalf("Compare = %+v", c)
	}
	get := func(p Pair, m string) Delta {
		for _, d := range p.Deltas {
			if d.Metric == m {
				return d
			}
		}
		t.Fatalf("no %s in %+v", m, p)
		return Delta{}
	}
	a, b := c.Pairs[0], c.Pairs[1]
	if d := get(a, "cg_0/spread"); d.Verdict != "worse" || d.Delta != 8 || d.Rel != 4 || d.P != -1 {
		t.Errorf("spread 2 -> 10: %+v", d)
	}
	if d := get(b, "cg_0/p99_wake"); d.Verdict != "better" {
		t.Errorf("p99 halved: %+v", d)
	}
	if !b.Regression || !strings.Contains(strings.Join(b.Notes, ""), "failed in new") {
		t.Errorf("pass -> fail is no regression: %+v", b)
	}
	// Under both thresholds: not significant.
	ms := Metrics()
	if err := ParseThreshold(ms, "spread=10,"); err != nil {
		t.Fatal(err)
	}
	c, _ = Compare(base[:1], new[:1], ms, nil)
	if d := get(c.Pairs[0], "cg_0/spread"); d.Verdict != "~" || c.Regressions != 0 {
		t.Errorf("spread +8 under an absolute threshold of 10: %+v", d)
	}
	for _, bad := range []string{"nope=1,1", "spread", "spread=x,", "spread=1,-1"} {
		if err := ParseThreshold(Metrics(), bad); err == nil {
			t.Errorf("ParseThreshold(%q) accepted", bad)
		}
	}
	// With replicas, the U test decides: 3 vs 3 can never reach p < 0.05.
	c, _ = Compare([]Record{rec("T", "s", true, 1, 1), rec("T", "s", true, 1.1, 1), rec("T", "s", true, 1.2, 1)},
		[]Record{rec("T", "s", true, 5, 1), rec("T", "s", true, 5.1, 1), rec("T", "s", true, 5.2, 1)}, Metrics(), nil)
	if d := get(c.Pairs[0], "cg_0/spread"); d.Verdict != "~" || d.P != 0.1 || d.N != [2]int{3, 3} {
		t.Errorf("3 vs 3 replicas: %+v", d)
	}
	// Ignoring the scheduler pairs runs across schedulers.
	c, err = Compare([]Record{rec("T", "eevdf", true, 1, 1)}, []Record{rec("T", "scx_simple", true, 1, 1)}, Metrics(), []string{"scheduler"})
	if err != nil || len(c.Pairs) != 1 {
		t.Errorf("ignore scheduler: %+v, %v", c, err)
	}
	if _, err := Compare(nil, nil, Metrics(), []string{"color"}); err == nil {
		t.Error("unknown ignore field accepted")
	}
}

func TestWriteComparison(t *testing.T) {
	c, _ := Compare([]Record{rec("TestA", "s", true, 2, 1e6)}, []Record{rec("TestA", "s", true, 10, 1e6)}, Metrics(), nil)
	for _, f := range []string{FormatText, FormatMarkdown, FormatJSON} {
		var b bytes.Buffer
		if err := WriteComparison(&b, c, f); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		want := []string{"TestA", "REGRESSION", "cg_0/spread", "2.00%", "10.00%", "+400.0%", "worse", "1 regression(s)"}
		if f == FormatJSON {
			want = []string{`"regressions": 1`, `"verdict": "worse"`}
			var back Comparison
			if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Regressions != 1 {
				t.Errorf("json round trip: %v", err)
			}
		}
		if f == FormatMarkdown {
			want = append(want, "| metric | base | new | delta | p |", "### TestA")
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", f, w, out)
			}
		}
	}
	if err := WriteComparison(&bytes.Buffer{}, c, "yaml"); err == nil {
		t.Error("format yaml accepted")
	}
	var b bytes.Buffer
	if err := WriteBench(&b, []Record{rec("TestA", "s", true, 2, 1e6)}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "BenchmarkTestA/topology=1n1l2c1t/scheduler=s/profile=default/cgroup=cg_0 1 2 spread-pct 1e+06 p99_wake-ns") {
		t.Errorf("bench line %q", got)
	}
}
