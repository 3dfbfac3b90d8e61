package verify

import (
	"errors"
	"fmt"
	"math"
	"reflect"
)

// Config selects and tunes the checks. Every field may be left unset; the
// merge chain (Merge) fills it from the level below. The same struct is used
// at every level: framework defaults, a scheduler's overrides, a test's
// fields.
//
// Each field is one setting of the table (Settings), which says what it
// checks, its default, unit and scaling; the code that treats the settings
// alike (Merge, Validate, Defaults, ScaledLimits, Check, FromStruct) finds
// the fields by name.
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
	// points, between the most and least off-CPU worker of a cgroup;
	// multiplied under TCG like the time-based limits (see Env).
	MaxSpreadPct Threshold `json:"max_spread_pct"`
	// MaxThroughputCV bounds the coefficient of variation of work units per
	// CPU-second across a cgroup's workers.
	MaxThroughputCV Threshold `json:"max_throughput_cv"`
	// MinWorkRate is the least work units per CPU-second of any worker.
	MinWorkRate Threshold `json:"min_work_rate"`
	// MaxImbalanceRatio bounds the monitor's runqueue imbalance ratio (the
	// busiest CPU's nr_running over the idlest's).
	MaxImbalanceRatio Threshold `json:"max_imbalance_ratio"`
	// MaxLocalDSQDepth bounds the depth of every CPU's local DSQ, as the
	// monitor samples it.
	MaxLocalDSQDepth Threshold `json:"max_local_dsq_depth"`
	// FailOnStall fails the test when the monitor sees a CPU stall: its
	// runqueue clock frozen with runnable tasks while its vCPU runs.
	FailOnStall Bool `json:"fail_on_stall"`
	// SustainedSamples is how many consecutive monitor samples must violate
	// a monitor check's limit before it fails: a parameter of the monitor's
	// checks, not a check.
	SustainedSamples Threshold `json:"sustained_samples"`
	// MaxFallbackRate bounds sched_ext select-cpu fallbacks per second,
	// summed over CPUs.
	MaxFallbackRate Threshold `json:"max_fallback_rate"`
	// MaxKeepLastRate bounds sched_ext dispatch keep-last events per
	// second, summed over CPUs.
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

// Merge applies the levels in order over an empty Config: for every
// setting of the table the last level that set it wins, so
// Merge(Defaults(), sched, test) gives the configuration a test runs with.
// A level switches a check off with Off or Disabled.
func Merge(levels ...Config) Config {
	var out Config
	for i := range levels {
		for j := range table {
			s := &table[j]
			if f := s.field(&levels[i]); f.Interface().(setter).Set() {
				s.field(&out).Set(f)
			}
		}
	}
	return out
}

// Validate checks one level: thresholds are finite and not negative and
// follow their setting's Rule (percentages at most 100, sample counts
// whole numbers of at least 1), and Bools hold one of their three values.
// Errors name the field.
func (c Config) Validate() error {
	var errs []error
	for i := range table {
		s := &table[i]
		switch x := s.get(&c).(type) {
		case Bool:
			if x < Inherit || x > Off {
				errs = append(errs, fmt.Errorf("%s is %v: use On, Off or leave it unset", s.Field, x))
			}
		case Threshold:
			v, ok := x.Value()
			switch {
			case !ok:
			case math.IsNaN(v) || math.IsInf(v, 0):
				errs = append(errs, fmt.Errorf("%s is %v: must be a finite number", s.Field, v))
			case v < 0:
				errs = append(errs, fmt.Errorf("%s is %v: thresholds cannot be negative", s.Field, v))
			case s.valid != nil && !s.valid(v):
				errs = append(errs, fmt.Errorf("%s is %v: %s", s.Field, v, s.Rule))
			}
		}
	}
	return errors.Join(errs...)
}

// Defaults are the framework's verification defaults, the Default of every
// setting of the table: starvation, spread and gap checks on (NotStarved),
// spread at most 15 percentage points, gaps at most 2000 ms, isolation
// off; the monitor's checks on: imbalance ratio at most 4, local DSQ depth
// at most 50 tasks, stalls fail, at most 200 fallbacks and 100 keep-last
// events per second, each violation sustained over 5 samples before it
// fails; everything else unset until a level sets it.
func Defaults() Config {
	var c Config
	for i := range table {
		if s := &table[i]; s.Default != nil {
			s.field(&c).Set(reflect.ValueOf(s.Default))
		}
	}
	return c
}
