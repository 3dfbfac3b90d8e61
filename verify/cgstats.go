package verify

import (
	"slices"

	"github.com/ktstr-go/ktstr/workload"
)

// CgroupReport is what the workers of one cgroup measured.
type CgroupReport struct {
	Name string `json:"name"`
	// CPUs is the cgroup's effective cpuset, the CPUs its workers may use;
	// nil or empty means all CPUs.
	CPUs []int `json:"cpus,omitempty"`
	// Workers are the cgroup's worker reports. A worker is named by its
	// position in this slice (the harness fills it in Report.Index order).
	Workers []workload.Report `json:"workers"`
}

// CgroupStats are the numbers the checks look at for one cgroup. Check
// fills them for every cgroup whether its checks pass or fail, and
// whether they are enabled or not. A statistic that cannot be computed
// (no worker with wall time, no wake samples, ...) is 0; the counts next
// to it say why.
type CgroupStats struct {
	Name string `json:"name"`
	// CPUs is the cgroup's cpuset (nil: all CPUs); CPUsUsed the sorted
	// union of the CPUs its workers were seen on.
	CPUs     []int `json:"cpus,omitempty"`
	CPUsUsed []int `json:"cpus_used,omitempty"`

	Workers    int    `json:"workers"`
	WorkUnits  uint64 `json:"work_units"`
	Iterations uint64 `json:"iterations"`
	Migrations uint64 `json:"migrations"`

	// Off-CPU percentages (offCPUPct) over the workers with wall time:
	// their mean, min, max, and SpreadPct = max − min.
	MeanOffCPUPct float64 `json:"mean_off_cpu_pct"`
	MinOffCPUPct  float64 `json:"min_off_cpu_pct"`
	MaxOffCPUPct  float64 `json:"max_off_cpu_pct"`
	SpreadPct     float64 `json:"spread_pct"`

	// MaxGapMs is the longest MaxGap of any worker, in milliseconds, and
	// MaxGapWorker that worker (-1 when the cgroup has no workers).
	MaxGapMs     float64 `json:"max_gap_ms"`
	MaxGapWorker int     `json:"max_gap_worker"`

	// MeanWorkRate is the mean of workRate over the workers with CPU time,
	// ThroughputCV the coefficient of variation of the same rates.
	MeanWorkRate float64 `json:"mean_work_rate"`
	ThroughputCV float64 `json:"throughput_cv"`

	// WakeSamples is the number of pooled wake latency samples, P99WakeNs
	// their nearest-rank p99 and WakeCV their coefficient of variation.
	WakeSamples int     `json:"wake_samples"`
	P99WakeNs   float64 `json:"p99_wake_ns"`
	WakeCV      float64 `json:"wake_cv"`

	// MigrationRatio is migrationRatio of the cgroup (0 without
	// iterations).
	MigrationRatio float64 `json:"migration_ratio"`

	// PerWorker are the figures of each worker, in report order, for
	// pictures and comparisons.
	PerWorker []WorkerStats `json:"per_worker,omitempty"`
}

// KeptWakeSamples bounds the wake latencies WorkerStats keeps per worker
// (a uniform subsample of the worker's reservoir).
const KeptWakeSamples = 256

// WorkerStats are one worker's figures, with the formulas the checks use.
type WorkerStats struct {
	OffCPUPct  float64 `json:"off_cpu_pct"`
	WorkRate   float64 `json:"work_rate"`
	MaxGapMs   float64 `json:"max_gap_ms"`
	MaxGapAtMs float64 `json:"max_gap_at_ms"`
	MaxGapCPU  int     `json:"max_gap_cpu"`
	Migrations uint64  `json:"migrations"`
	// WakeNs are up to KeptWakeSamples wake latencies, sorted; WakeCount
	// is how many the worker observed in all.
	WakeNs    []int64 `json:"wake_ns,omitempty"`
	WakeCount uint64  `json:"wake_count"`
}

// Stats computes the statistics of one cgroup with the same formulas the
// checks use.
func Stats(cg CgroupReport) CgroupStats {
	s := CgroupStats{Name: cg.Name, Workers: len(cg.Workers), MaxGapWorker: -1}
	if len(cg.CPUs) > 0 {
		s.CPUs = slices.Clone(cg.CPUs)
	}
	var used []int
	for i, w := range cg.Workers {
		s.WorkUnits += w.WorkUnits
		s.Iterations += w.Iterations
		s.Migrations += w.Migrations
		used = append(used, w.CPUs...)
		if g := gapMs(w); s.MaxGapWorker < 0 || g > s.MaxGapMs {
			s.MaxGapMs, s.MaxGapWorker = g, i
		}
	}
	slices.Sort(used)
	s.CPUsUsed = slices.Compact(used)

	off, _ := series(cg.Workers, offCPUPct)
	if lo, hi := minMax(off); lo >= 0 {
		s.MeanOffCPUPct, s.MinOffCPUPct, s.MaxOffCPUPct = mean(off), off[lo], off[hi]
		s.SpreadPct = off[hi] - off[lo]
	}
	rates, _ := series(cg.Workers, workRate)
	s.MeanWorkRate, s.ThroughputCV = mean(rates), cv(rates)

	wake := wakeSamples(cg.Workers)
	s.WakeSamples = len(wake)
	s.P99WakeNs, s.WakeCV = percentile(wake, 99), cv(wake)

	s.MigrationRatio, _ = migrationRatio(cg.Workers)
	for _, w := range cg.Workers {
		ws := WorkerStats{MaxGapMs: gapMs(w), MaxGapAtMs: float64(w.MaxGapAt) / 1e6, MaxGapCPU: w.MaxGapCPU,
			Migrations: w.Migrations, WakeCount: w.WakeCount}
		ws.OffCPUPct, _ = offCPUPct(w)
		ws.WorkRate, _ = workRate(w)
		n := len(w.WakeLatencies)
		step := max(1, (n+KeptWakeSamples-1)/KeptWakeSamples)
		for i := 0; i < n; i += step {
			ws.WakeNs = append(ws.WakeNs, int64(w.WakeLatencies[i]))
		}
		slices.Sort(ws.WakeNs)
		s.PerWorker = append(s.PerWorker, ws)
	}
	return s
}

// Per-worker and per-cgroup quantities. The check functions and Stats
// share them, so a formula lives in one place.

// offCPUPct returns 100 × OffCPU / WallTime, the percentage of its wall
// time a worker spent off CPU (OffCPU as reported, not clamped); not ok
// when WallTime ≤ 0.
func offCPUPct(w workload.Report) (float64, bool) {
	if w.WallTime <= 0 {
		return 0, false
	}
	return 100 * float64(w.OffCPU) / float64(w.WallTime), true
}

// workRate returns WorkUnits / CPUTime in seconds, work units per
// CPU-second; not ok when CPUTime ≤ 0.
func workRate(w workload.Report) (float64, bool) {
	if w.CPUTime <= 0 {
		return 0, false
	}
	return float64(w.WorkUnits) / w.CPUTime.Seconds(), true
}

// iterationRate returns Iterations / WallTime in seconds, iterations per
// wall-clock second; not ok when WallTime ≤ 0.
func iterationRate(w workload.Report) (float64, bool) {
	if w.WallTime <= 0 {
		return 0, false
	}
	return float64(w.Iterations) / w.WallTime.Seconds(), true
}

// gapMs returns MaxGap in milliseconds: MaxGap(ns) / 1e6.
func gapMs(w workload.Report) float64 { return float64(w.MaxGap) / 1e6 }

// migrationRatio returns sum(Migrations) / sum(Iterations) over ws; not ok
// when sum(Iterations) is 0.
func migrationRatio(ws []workload.Report) (float64, bool) {
	var m, it uint64
	for _, w := range ws {
		m += w.Migrations
		it += w.Iterations
	}
	if it == 0 {
		return 0, false
	}
	return float64(m) / float64(it), true
}

// wakeSamples pools every worker's WakeLatencies, in nanoseconds.
func wakeSamples(ws []workload.Report) []float64 {
	var out []float64
	for _, w := range ws {
		for _, d := range w.WakeLatencies {
			out = append(out, float64(d))
		}
	}
	return out
}

// series evaluates f on every worker and returns the values that are ok
// with the workers' positions.
func series(ws []workload.Report, f func(workload.Report) (float64, bool)) (vals []float64, idx []int) {
	for i, w := range ws {
		if v, ok := f(w); ok {
			vals = append(vals, v)
			idx = append(idx, i)
		}
	}
	return vals, idx
}
