package verify

import (
	"errors"
	"fmt"
	"math"
)

// Config selects and tunes the checks. Every field may be left unset; the
// merge chain (Merge) fills it from the level below. The same struct is used
// at every level: framework defaults, a scheduler's overrides, a test's
// fields.
type Config struct {
	// NotStarved turns on starvation, fairness spread and scheduling gap
	// checks together.
	NotStarved Bool `json:"not_starved"`
	// Isolation checks that workers only ran on their cgroup's CPUs.
	Isolation Bool `json:"isolation"`
	// MaxGapMs is the longest tolerated gap between a worker's progress
	// checkpoints, in milliseconds.
	MaxGapMs Threshold `json:"max_gap_ms"`
	// MaxSpreadPct is the largest tolerated difference, in percentage
	// points, between the most and least off-CPU worker of a cgroup.
	MaxSpreadPct Threshold `json:"max_spread_pct"`
	// MaxThroughputCV bounds the coefficient of variation of work units per
	// CPU-second across a cgroup's workers.
	MaxThroughputCV Threshold `json:"max_throughput_cv"`
	// MinWorkRate is the least work units per CPU-second of any worker.
	MinWorkRate Threshold `json:"min_work_rate"`
	// MaxImbalanceRatio bounds the monitor's runqueue imbalance ratio.
	MaxImbalanceRatio Threshold `json:"max_imbalance_ratio"`
	// MaxLocalDSQDepth bounds the monitor's local DSQ depth.
	MaxLocalDSQDepth Threshold `json:"max_local_dsq_depth"`
	// FailOnStall fails the test when the monitor sees a stall.
	FailOnStall Bool `json:"fail_on_stall"`
	// SustainedSamples is how many consecutive monitor samples must violate
	// a monitor threshold before it counts.
	SustainedSamples Threshold `json:"sustained_samples"`
	// MaxFallbackRate bounds sched_ext fallback dispatches per second.
	MaxFallbackRate Threshold `json:"max_fallback_rate"`
	// MaxKeepLastRate bounds sched_ext keep-last events per second.
	MaxKeepLastRate Threshold `json:"max_keep_last_rate"`
	// MaxP99WakeLatencyNs bounds the p99 wake-up latency of a cgroup.
	MaxP99WakeLatencyNs Threshold `json:"max_p99_wake_latency_ns"`
	// MaxWakeLatencyCV bounds the coefficient of variation of a cgroup's
	// wake-up latencies.
	MaxWakeLatencyCV Threshold `json:"max_wake_latency_cv"`
	// MinIterationRate is the least iterations per wall-clock second of any
	// worker.
	MinIterationRate Threshold `json:"min_iteration_rate"`
	// MaxMigrationRatio bounds migrations per iteration of a cgroup.
	MaxMigrationRatio Threshold `json:"max_migration_ratio"`
}

// thresholds lists the threshold fields of c with their names, for code
// that treats them alike.
func (c *Config) thresholds() []namedThreshold {
	return []namedThreshold{
		{"MaxGapMs", &c.MaxGapMs}, {"MaxSpreadPct", &c.MaxSpreadPct},
		{"MaxThroughputCV", &c.MaxThroughputCV}, {"MinWorkRate", &c.MinWorkRate},
		{"MaxImbalanceRatio", &c.MaxImbalanceRatio}, {"MaxLocalDSQDepth", &c.MaxLocalDSQDepth},
		{"SustainedSamples", &c.SustainedSamples}, {"MaxFallbackRate", &c.MaxFallbackRate},
		{"MaxKeepLastRate", &c.MaxKeepLastRate}, {"MaxP99WakeLatencyNs", &c.MaxP99WakeLatencyNs},
		{"MaxWakeLatencyCV", &c.MaxWakeLatencyCV}, {"MinIterationRate", &c.MinIterationRate},
		{"MaxMigrationRatio", &c.MaxMigrationRatio},
	}
}

func (c *Config) bools() []namedBool {
	return []namedBool{{"NotStarved", &c.NotStarved}, {"Isolation", &c.Isolation}, {"FailOnStall", &c.FailOnStall}}
}

type namedThreshold struct {
	name string
	t    *Threshold
}

type namedBool struct {
	name string
	b    *Bool
}

// Merge applies the levels in order over an empty Config: for every field
// the last level that set it wins, so Merge(Defaults(), sched, test) gives
// the configuration a test runs with. A level switches a check off with Off
// or Disabled.
func Merge(levels ...Config) Config {
	var out Config
	for _, l := range levels {
		ot, lt := out.thresholds(), l.thresholds()
		for i := range ot {
			*ot[i].t = lt[i].t.Or(*ot[i].t)
		}
		ob, lb := out.bools(), l.bools()
		for i := range ob {
			*ob[i].b = lb[i].b.Or(*ob[i].b)
		}
	}
	return out
}

// Validate checks one level: thresholds are finite and not negative,
// percentages at most 100, sample counts whole numbers of at least 1, and
// Bools hold one of their three values. Errors name the field.
func (c Config) Validate() error {
	var errs []error
	for _, f := range c.thresholds() {
		v, ok := f.t.Value()
		if !ok {
			continue
		}
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			errs = append(errs, fmt.Errorf("%s is %v: must be a finite number", f.name, v))
		case v < 0:
			errs = append(errs, fmt.Errorf("%s is %v: thresholds cannot be negative", f.name, v))
		case f.name == "MaxSpreadPct" && v > 100:
			errs = append(errs, fmt.Errorf("MaxSpreadPct is %v: a percentage is at most 100", v))
		case f.name == "SustainedSamples" && (v < 1 || v != math.Trunc(v)):
			errs = append(errs, fmt.Errorf("SustainedSamples is %v: must be a whole number of at least 1", v))
		}
	}
	for _, f := range c.bools() {
		if *f.b < Inherit || *f.b > Off {
			errs = append(errs, fmt.Errorf("%s is %v: use On, Off or leave it unset", f.name, *f.b))
		}
	}
	return errors.Join(errs...)
}

// Defaults are the framework's verification defaults: starvation, spread
// and gap checks on (NotStarved), spread at most 15 percentage points, gaps
// at most 2000 ms; everything else off until a level sets it.
func Defaults() Config {
	return Config{NotStarved: On, Isolation: Off, FailOnStall: Off, MaxSpreadPct: Val(15), MaxGapMs: Val(2000)}
}
