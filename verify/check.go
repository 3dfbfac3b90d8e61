package verify

import (
	"fmt"
	"slices"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

// Stable ids of the checks, used as Failure.Check and Limit.Check. Each is
// the ID of one setting of the table (Settings).
const (
	// Check evaluates these, per cgroup, in this order.
	CheckStarvation     = "starvation"
	CheckSpread         = "spread"
	CheckGap            = "gap"
	CheckIsolation      = "isolation"
	CheckThroughputCV   = "throughput_cv"
	CheckWorkRate       = "work_rate"
	CheckWakeP99        = "wake_p99"
	CheckWakeCV         = "wake_cv"
	CheckIterationRate  = "iteration_rate"
	CheckMigrationRatio = "migration_ratio"

	// The host-side monitor's checks, which CheckMonitor evaluates.
	CheckImbalanceRatio = "imbalance_ratio"
	CheckLocalDSQDepth  = "local_dsq_depth"
	CheckStall          = "stall"
	CheckFallbackRate   = "fallback_rate"
	CheckKeepLastRate   = "keep_last_rate"
)

// Check runs the enabled checks of a merged cfg over the cgroups' worker
// reports. Limits are scaled for env as ScaledLimits describes; a note
// records every scaled limit. For each cgroup it runs the CgroupScope
// checks of the table in table order: starvation, spread, gap
// (NotStarved), isolation (Isolation), throughput CV (MaxThroughputCV),
// work rate (MinWorkRate), wake p99 (MaxP99WakeLatencyNs), wake CV
// (MaxWakeLatencyCV), iteration rate (MinIterationRate) and migration
// ratio (MaxMigrationRatio); the formulas are on the check functions.
// Monitor settings (MaxImbalanceRatio, MaxLocalDSQDepth, FailOnStall,
// SustainedSamples, MaxFallbackRate, MaxKeepLastRate) are not checked
// here: CheckMonitor evaluates them over the monitor's samples.
//
// The result passes when no check failed. Result.Cgroups holds every
// cgroup's Stats regardless. A check that cannot be evaluated for a cgroup
// (no samples, no CPU time, ...) is skipped with a note, not failed.
func Check(cfg Config, cgroups []CgroupReport, env Env) Result {
	lim := ScaledLimits(cfg, env)
	type active struct {
		run cgroupCheck
		lim Limit
	}
	var checks []active
	for i := range table {
		if s := &table[i]; s.run != nil {
			if l, _ := lim.Lookup(s.ID); l.On {
				checks = append(checks, active{s.run, l})
			}
		}
	}
	r := Result{Notes: lim.notes()}
	for _, cg := range cgroups {
		r.Cgroups = append(r.Cgroups, Stats(cg))
		if len(cg.Workers) == 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("cgroup %s: no workers", cg.Name))
			continue
		}
		for i, w := range cg.Workers {
			if w.Err != "" {
				r.Notes = append(r.Notes, fmt.Sprintf("cgroup %s: worker %d reported an error: %s", cg.Name, i, w.Err))
			}
		}
		var notes []string
		for _, c := range checks {
			f, n := c.run(cg, c.lim)
			r.Failures, notes = append(r.Failures, f...), append(notes, n...)
		}
		r.Notes = append(r.Notes, notes...)
	}
	r.Passed = len(r.Failures) == 0
	return r
}

// failure builds a Failure whose message starts with "cgroup <name>: ".
func failure(check string, cg CgroupReport, worker int, value, limit float64, format string, args ...any) Failure {
	return Failure{
		Check: check, Cgroup: cg.Name, Worker: worker, Value: value, Limit: limit,
		Message: fmt.Sprintf("cgroup %s: ", cg.Name) + fmt.Sprintf(format, args...),
	}
}

func note(cg CgroupReport, format string, args ...any) string {
	return fmt.Sprintf("cgroup %s: ", cg.Name) + fmt.Sprintf(format, args...)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// checkStarvation fails every worker with WorkUnits == 0 (Value 0,
// Limit 0).
func checkStarvation(cg CgroupReport, _ Limit) ([]Failure, []string) {
	var fs []Failure
	for i, w := range cg.Workers {
		if w.WorkUnits != 0 {
			continue
		}
		msg := "worker %d starved: 0 work units in %s wall, %s CPU"
		args := []any{i, secs(w.WallTime), secs(w.CPUTime)}
		if w.Err != "" {
			msg += " (worker error: %s)"
			args = append(args, w.Err)
		}
		fs = append(fs, failure(CheckStarvation, cg, i, 0, 0, msg, args...))
	}
	return fs, nil
}

// checkSpread checks the fairness spread of a cgroup with at least two
// workers. For each worker with
// WallTime > 0, off_i = 100 × OffCPU_i / WallTime_i (offCPUPct); with at
// least two such workers, spread = max_i(off_i) − min_i(off_i), and the
// check fails when spread > l.Effective (percentage points, never
// scaled). Workers without wall time are left out with a note; with fewer
// than two workers left the check is skipped with a note. A cgroup with
// one worker has no spread. Value is the spread, Worker -1.
func checkSpread(cg CgroupReport, l Limit) ([]Failure, []string) {
	if len(cg.Workers) < 2 {
		return nil, nil
	}
	off, idx := series(cg.Workers, offCPUPct)
	var notes []string
	if n := len(cg.Workers) - len(off); n > 0 {
		notes = append(notes, note(cg, "spread: %d worker(s) without wall time left out", n))
	}
	if len(off) < 2 {
		return nil, append(notes, note(cg, "spread not checked: fewer than two workers with wall time"))
	}
	lo, hi := minMax(off)
	spread := off[hi] - off[lo]
	if spread <= l.Effective {
		return nil, notes
	}
	return []Failure{failure(CheckSpread, cg, -1, spread, l.Effective,
		"spread %.1f%% > %s (worker %d off-CPU %.1f%%, worker %d %.1f%%)",
		spread, l, idx[hi], off[hi], idx[lo], off[lo])}, notes
}

// checkGap checks a cgroup's longest scheduling gap: gap_i = MaxGap_i in
// ms (MaxGap(ns) / 1e6); the worker with the largest gap_i (the first on
// ties) fails the check when gap_i > l.Effective, where l.Effective =
// MaxGapMs × scale factor. The message says when the gap ended and on
// which CPU, and how many workers were over the limit. Worker is that
// worker, Value its gap in ms.
func checkGap(cg CgroupReport, l Limit) ([]Failure, []string) {
	worst, over := -1, 0
	for i, w := range cg.Workers {
		g := gapMs(w)
		if g > l.Effective {
			over++
		}
		if worst < 0 || g > gapMs(cg.Workers[worst]) {
			worst = i
		}
	}
	if worst < 0 {
		return nil, nil
	}
	w := cg.Workers[worst]
	g := gapMs(w)
	if g <= l.Effective {
		return nil, nil
	}
	return []Failure{failure(CheckGap, cg, worst, g, l.Effective,
		"worker %d scheduling gap %.1f ms > %s (gap ended %s into the run on CPU %d; %d of %d worker(s) over the limit)",
		worst, g, l, secs(w.MaxGapAt), w.MaxGapCPU, over, len(cg.Workers))}, nil
}

// checkIsolation fails every worker that was seen on a CPU outside its
// cgroup's cpuset: escaped = Report.CPUs \ CgroupReport.CPUs. A cgroup
// without a cpuset (nil or empty CPUs: all CPUs) always passes. Value is
// the number of escaped CPUs, Limit 0, Failure.CPUs the escaped CPUs.
func checkIsolation(cg CgroupReport, _ Limit) ([]Failure, []string) {
	if len(cg.CPUs) == 0 {
		return nil, nil
	}
	var fs []Failure
	for i, w := range cg.Workers {
		var esc []int
		for _, c := range w.CPUs {
			if !slices.Contains(cg.CPUs, c) && !slices.Contains(esc, c) {
				esc = append(esc, c)
			}
		}
		if len(esc) == 0 {
			continue
		}
		slices.Sort(esc)
		f := failure(CheckIsolation, cg, i, float64(len(esc)), 0,
			"worker %d ran on CPU(s) %s outside its cpuset %s", i, cpuList(esc), cpuList(sortedCopy(cg.CPUs)))
		f.CPUs = esc
		fs = append(fs, f)
	}
	return fs, nil
}

func sortedCopy(xs []int) []int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return slices.Compact(s)
}

// checkThroughputCV checks, for a cgroup with at least two workers, the
// spread of work rates: rate_i = WorkUnits_i / CPUTime_i in seconds
// (workRate) for each worker with CPUTime > 0, CV = population stddev /
// mean of the rates (0 when the mean is 0, i.e. all rates are 0), failing
// when CV > l.Effective (never scaled). Workers without CPU time are left
// out with a note; with fewer than two rates the check is skipped with a
// note. Value is the CV, Worker -1.
func checkThroughputCV(cg CgroupReport, l Limit) ([]Failure, []string) {
	if len(cg.Workers) < 2 {
		return nil, nil
	}
	rates, idx := series(cg.Workers, workRate)
	var notes []string
	if n := len(cg.Workers) - len(rates); n > 0 {
		notes = append(notes, note(cg, "throughput CV: %d worker(s) without CPU time left out", n))
	}
	if len(rates) < 2 {
		return nil, append(notes, note(cg, "throughput CV not checked: fewer than two workers with CPU time"))
	}
	c := cv(rates)
	if c <= l.Effective {
		return nil, notes
	}
	lo, hi := minMax(rates)
	return []Failure{failure(CheckThroughputCV, cg, -1, c, l.Effective,
		"throughput CV %.3f > %s (work units per CPU-second: mean %.1f, min %.1f (worker %d), max %.1f (worker %d))",
		c, l, mean(rates), rates[lo], idx[lo], rates[hi], idx[hi])}, notes
}

// checkWorkRate fails every worker whose rate = WorkUnits / CPUTime in
// seconds (workRate) is < l.Effective, where l.Effective = MinWorkRate /
// scale factor. Workers with CPUTime ≤ 0 have no rate and are skipped
// with a note (a worker that did nothing is the starvation check's
// business). Value is the rate.
func checkWorkRate(cg CgroupReport, l Limit) ([]Failure, []string) {
	return checkMinRate(cg, l, CheckWorkRate, "work rate", "no CPU time", workRate,
		func(i int, rate float64, w workload.Report) string {
			return fmt.Sprintf("worker %d work rate %.1f units/CPU-s < %s (%d units in %s CPU)", i, rate, l, w.WorkUnits, secs(w.CPUTime))
		})
}

// checkWakeP99 pools every worker's WakeLatencies (ns) and takes the p99
// by nearest rank: sort the n samples ascending, rank = ceil(99 × n / 100)
// (1-based), p99 = sorted[rank−1]. It fails when p99 > l.Effective, where
// l.Effective = MaxP99WakeLatencyNs × scale factor. A cgroup without
// samples is skipped with a note. Value is the p99 in ns, Worker -1.
func checkWakeP99(cg CgroupReport, l Limit) ([]Failure, []string) {
	s := wakeSamples(cg.Workers)
	if len(s) == 0 {
		return nil, []string{note(cg, "wake p99 not checked: no wake latency samples")}
	}
	p := percentile(s, 99)
	if p <= l.Effective {
		return nil, nil
	}
	return []Failure{failure(CheckWakeP99, cg, -1, p, l.Effective,
		"p99 wake latency %s (%.0f ns) > %s (%d samples from %d worker(s))",
		fdur(p), p, l, len(s), len(cg.Workers))}, nil
}

// checkWakeCV pools every worker's WakeLatencies (ns) and computes
// CV = population stddev / mean of the samples (0 when the mean is 0),
// failing when CV > l.Effective (never scaled). A cgroup without samples
// is skipped with a note. Value is the CV, Worker -1.
func checkWakeCV(cg CgroupReport, l Limit) ([]Failure, []string) {
	s := wakeSamples(cg.Workers)
	if len(s) == 0 {
		return nil, []string{note(cg, "wake latency CV not checked: no wake latency samples")}
	}
	c := cv(s)
	if c <= l.Effective {
		return nil, nil
	}
	return []Failure{failure(CheckWakeCV, cg, -1, c, l.Effective,
		"wake latency CV %.3f > %s (%d samples, mean %s, stddev %s)",
		c, l, len(s), fdur(mean(s)), fdur(stddev(s)))}, nil
}

// checkIterationRate fails every worker whose rate = Iterations /
// WallTime in seconds (iterationRate) is < l.Effective, where l.Effective
// = MinIterationRate / scale factor. Workers with WallTime ≤ 0 are
// skipped with a note. Value is the rate.
func checkIterationRate(cg CgroupReport, l Limit) ([]Failure, []string) {
	return checkMinRate(cg, l, CheckIterationRate, "iteration rate", "no wall time", iterationRate,
		func(i int, rate float64, w workload.Report) string {
			return fmt.Sprintf("worker %d iteration rate %.1f iterations/s < %s (%d iterations in %s wall)", i, rate, l, w.Iterations, secs(w.WallTime))
		})
}

// checkMinRate fails every worker whose rate(w) is below l.Effective, with
// the message msg gives; workers without a rate are skipped with a note
// saying why (none).
func checkMinRate(cg CgroupReport, l Limit, check, what, none string,
	rate func(workload.Report) (float64, bool), msg func(i int, rate float64, w workload.Report) string) ([]Failure, []string) {
	var fs []Failure
	var notes []string
	for i, w := range cg.Workers {
		r, ok := rate(w)
		if !ok {
			notes = append(notes, note(cg, "%s of worker %d not checked: %s", what, i, none))
			continue
		}
		if r < l.Effective {
			fs = append(fs, failure(check, cg, i, r, l.Effective, "%s", msg(i, r, w)))
		}
	}
	return fs, notes
}

// checkMigrationRatio computes the cgroup's ratio = sum(Migrations) /
// sum(Iterations) over its workers (migrationRatio), failing when ratio >
// l.Effective (never scaled). A cgroup with no iterations is skipped with
// a note. Value is the ratio, Worker -1.
func checkMigrationRatio(cg CgroupReport, l Limit) ([]Failure, []string) {
	ratio, ok := migrationRatio(cg.Workers)
	if !ok {
		return nil, []string{note(cg, "migration ratio not checked: no iterations")}
	}
	if ratio <= l.Effective {
		return nil, nil
	}
	var m, it uint64
	for _, w := range cg.Workers {
		m, it = m+w.Migrations, it+w.Iterations
	}
	return []Failure{failure(CheckMigrationRatio, cg, -1, ratio, l.Effective,
		"migration ratio %.3f > %s (%d migrations / %d iterations)", ratio, l, m, it)}, nil
}
