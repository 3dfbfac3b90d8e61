package verify

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

// statsCgroup is a three-worker cgroup with hand-computed statistics (see
// TestStats).
func statsCgroup() CgroupReport {
	w0 := wk(1000, 100, 2*s, 1600*ms)
	w0.MaxGap, w0.Migrations, w0.CPUs, w0.WakeLatencies = 10*ms, 5, []int{0, 1}, []time.Duration{ms, 3 * ms}
	w1 := wk(600, 50, 2*s, 800*ms)
	w1.MaxGap, w1.Migrations, w1.CPUs, w1.WakeLatencies = 40*ms, 10, []int{1, 2}, []time.Duration{2 * ms}
	w2 := wk(0, 0, 2*s, 1400*ms)
	w2.MaxGap, w2.CPUs = 40*ms, []int{5}
	return CgroupReport{Name: "cg_0", CPUs: []int{0, 1, 2, 3}, Workers: []workload.Report{w0, w1, w2}}
}

func TestStats(t *testing.T) {
	got := Stats(statsCgroup())
	want := CgroupStats{
		Name: "cg_0", CPUs: []int{0, 1, 2, 3},
		// union of [0 1], [1 2], [5].
		CPUsUsed: []int{0, 1, 2, 5},
		Workers:  3,
		// 1000 + 600 + 0; 100 + 50 + 0; 5 + 10 + 0.
		WorkUnits: 1600, Iterations: 150, Migrations: 15,
		// off-CPU: 100*0.4/2 = 20, 100*1.2/2 = 60, 100*0.6/2 = 30;
		// mean 110/3 = 36.667; min 20; max 60; spread 40.
		MeanOffCPUPct: 110.0 / 3, MinOffCPUPct: 20, MaxOffCPUPct: 60, SpreadPct: 40,
		// gaps 10, 40, 40 ms: the first 40 (worker 1).
		MaxGapMs: 40, MaxGapWorker: 1,
		// rates 1000/1.6 = 625, 600/0.8 = 750, 0/1.4 = 0; mean 1375/3 =
		// 458.333; deviations 166.667, 291.667, -458.333; squares sum
		// 322916.667; /3 = 107638.889; sqrt = 328.0837; CV = 0.7158189.
		MeanWorkRate: 1375.0 / 3, ThroughputCV: 0.7158188976374374,
		// samples 1, 3, 2 ms: n = 3, rank ceil(2.97) = 3 -> 3 ms.
		// mean 2 ms, squared deviations 1+1+0 = 2, /3, sqrt = 0.8165 ms;
		// CV = 0.8165/2 = 0.4082483.
		WakeSamples: 3, P99WakeNs: 3e6, WakeCV: 0.408248290463863,
		// 15 / 150.
		MigrationRatio: 0.1,
	}
	floats := func(c CgroupStats) []float64 {
		return []float64{c.MeanOffCPUPct, c.MinOffCPUPct, c.MaxOffCPUPct, c.SpreadPct, c.MaxGapMs,
			c.MeanWorkRate, c.ThroughputCV, c.P99WakeNs, c.WakeCV, c.MigrationRatio}
	}
	g, w := floats(got), floats(want)
	for i := range g {
		if !approx(g[i], w[i]) {
			t.Errorf("float %d = %v, want %v", i, g[i], w[i])
		}
	}
	zero := func(c CgroupStats) CgroupStats {
		c.MeanOffCPUPct, c.MinOffCPUPct, c.MaxOffCPUPct, c.SpreadPct, c.MaxGapMs = 0, 0, 0, 0, 0
		c.MeanWorkRate, c.ThroughputCV, c.P99WakeNs, c.WakeCV, c.MigrationRatio = 0, 0, 0, 0, 0
		c.PerWorker = nil
		return c
	}
	// Per worker: the same formulas, and the wake samples kept sorted.
	if len(got.PerWorker) != got.Workers {
		t.Fatalf("%d per-worker figures for %d workers", len(got.PerWorker), got.Workers)
	}
	offs, nwake := []float64{}, 0
	for _, w := range got.PerWorker {
		offs = append(offs, w.OffCPUPct)
		nwake += len(w.WakeNs)
		if !slices.IsSorted(w.WakeNs) {
			t.Errorf("wake samples not sorted: %v", w.WakeNs)
		}
	}
	if lo, hi := slices.Min(offs), slices.Max(offs); !approx(lo, got.MinOffCPUPct) || !approx(hi, got.MaxOffCPUPct) || nwake != got.WakeSamples {
		t.Errorf("per-worker off-CPU %v and %d wake samples disagree with the cgroup's %+v", offs, nwake, got)
	}
	if !reflect.DeepEqual(zero(got), zero(want)) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", got, want)
	}
}

func TestStatsEmpty(t *testing.T) {
	got := Stats(CgroupReport{Name: "e"})
	if want := (CgroupStats{Name: "e", MaxGapWorker: -1}); !reflect.DeepEqual(got, want) {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	// workers without wall or CPU time: no off-CPU or rate statistics.
	got = Stats(CgroupReport{Name: "z", Workers: []workload.Report{{}, {}}})
	if want := (CgroupStats{Name: "z", Workers: 2, MaxGapWorker: 0, PerWorker: []WorkerStats{{}, {}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// Check fills the statistics whether checks pass, fail or are off.
func TestCheckFillsStats(t *testing.T) {
	for _, cfg := range []Config{Defaults(), {}, Merge(Defaults(), Config{MaxSpreadPct: Val(100), MaxGapMs: Val(1e9)})} {
		r := Check(cfg, []CgroupReport{statsCgroup()}, Env{})
		if len(r.Cgroups) != 1 || !reflect.DeepEqual(r.Cgroups[0], Stats(statsCgroup())) {
			t.Errorf("cgroups = %+v", r.Cgroups)
		}
	}
}
