package verify

import (
	"fmt"
	"math"
)

// Env describes where the checked run happened.
type Env struct {
	// Slowdown is how much slower the guest runs than on hardware
	// virtualization: 1 (or unset) under KVM, more under TCG emulation.
	// Values that are not finite or not above 1 count as 1.
	Slowdown float64 `json:"slowdown"`
	// Accel is the accelerator, "kvm" or "tcg"; it labels the scaling in
	// messages.
	Accel string `json:"accel"`
}

// Factor returns the scaling factor: Slowdown when it is finite and
// greater than 1, else 1.
func (e Env) Factor() float64 {
	if math.IsNaN(e.Slowdown) || math.IsInf(e.Slowdown, 0) || e.Slowdown <= 1 {
		return 1
	}
	return e.Slowdown
}

func (e Env) label() string {
	if e.Accel == "" {
		return "slowdown"
	}
	return e.Accel
}

// Scaling is how a limit follows Env.Slowdown.
type Scaling int8

// Scaling kinds.
const (
	// Unscaled limits are used as configured (percentages, ratios, CVs).
	Unscaled Scaling = iota
	// Multiplied limits are times: effective = configured × factor.
	Multiplied
	// Divided limits are rates: effective = configured / factor.
	Divided
)

// Limit is one check's limit as the checks apply it.
type Limit struct {
	// On reports whether the check runs.
	On bool `json:"on"`
	// Configured is the merged Config value; Effective is what the check
	// compares against after scaling; Factor is the factor applied (1 when
	// unscaled).
	Configured float64 `json:"configured"`
	Effective  float64 `json:"effective"`
	Factor     float64 `json:"factor"`
	Scaling    Scaling `json:"scaling"`
	// Name and Unit describe the limit in messages ("gap limit", "ms");
	// Accel labels the factor.
	Name  string `json:"name"`
	Unit  string `json:"unit"`
	Accel string `json:"accel,omitempty"`
}

// Scaled reports whether the effective limit differs from the configured
// one because of the slowdown.
func (l Limit) Scaled() bool { return l.Scaling != Unscaled && l.Factor != 1 }

// String describes the limit: "gap limit 2000 ms", or when scaled
// "gap limit 2000 ms x3 (tcg) = 6000 ms" (times) and
// "work rate limit 900 units/CPU-s /3 (tcg) = 300 units/CPU-s" (rates).
func (l Limit) String() string {
	s := l.Name + " " + withUnit(l.Configured, l.Unit)
	if !l.Scaled() {
		return s
	}
	op := "x"
	if l.Scaling == Divided {
		op = "/"
	}
	return fmt.Sprintf("%s %s%s (%s) = %s", s, op, fnum(l.Factor), l.Accel, withUnit(l.Effective, l.Unit))
}

// Limits are the limits of every check Check runs, after scaling.
type Limits struct {
	// Starvation and Isolation are on/off checks without a limit.
	Starvation bool `json:"starvation"`
	Isolation  bool `json:"isolation"`

	Gap            Limit `json:"gap"`
	Spread         Limit `json:"spread"`
	ThroughputCV   Limit `json:"throughput_cv"`
	WorkRate       Limit `json:"work_rate"`
	WakeP99        Limit `json:"wake_p99"`
	WakeCV         Limit `json:"wake_cv"`
	IterationRate  Limit `json:"iteration_rate"`
	MigrationRatio Limit `json:"migration_ratio"`
}

// ScaledLimits returns the limits Check applies for a merged cfg in env.
//
// A check runs only when its Bool is On or its Threshold holds a value.
// NotStarved switches starvation, spread and gap together; spread needs
// MaxSpreadPct and gap MaxGapMs to hold a value as well.
//
// With f = env.Factor() (the slowdown when above 1, else 1):
//   - time limits are multiplied: MaxGapMs and MaxP99WakeLatencyNs give
//     effective = configured × f, since everything takes f times longer;
//   - rate limits are divided: MinWorkRate and MinIterationRate give
//     effective = configured / f, since f times less gets done per second;
//   - MaxSpreadPct (a percentage of wall time), MaxThroughputCV,
//     MaxWakeLatencyCV and MaxMigrationRatio (ratios) are unscaled:
//     effective = configured.
func ScaledLimits(cfg Config, env Env) Limits {
	f := env.Factor()
	mk := func(t Threshold, gate bool, sc Scaling, name, unit string) Limit {
		v, ok := t.Value()
		l := Limit{On: gate && ok, Configured: v, Effective: v, Factor: 1, Scaling: sc, Name: name, Unit: unit}
		if !l.On {
			return l
		}
		switch sc {
		case Multiplied:
			l.Effective, l.Factor = v*f, f
		case Divided:
			l.Effective, l.Factor = v/f, f
		}
		if l.Factor != 1 {
			l.Accel = env.label()
		}
		return l
	}
	ns := cfg.NotStarved.True()
	return Limits{
		Starvation:     ns,
		Isolation:      cfg.Isolation.True(),
		Gap:            mk(cfg.MaxGapMs, ns, Multiplied, "gap limit", "ms"),
		Spread:         mk(cfg.MaxSpreadPct, ns, Unscaled, "spread limit", "%"),
		ThroughputCV:   mk(cfg.MaxThroughputCV, true, Unscaled, "throughput CV limit", ""),
		WorkRate:       mk(cfg.MinWorkRate, true, Divided, "work rate limit", "units/CPU-s"),
		WakeP99:        mk(cfg.MaxP99WakeLatencyNs, true, Multiplied, "wake p99 limit", "ns"),
		WakeCV:         mk(cfg.MaxWakeLatencyCV, true, Unscaled, "wake latency CV limit", ""),
		IterationRate:  mk(cfg.MinIterationRate, true, Divided, "iteration rate limit", "iterations/s"),
		MigrationRatio: mk(cfg.MaxMigrationRatio, true, Unscaled, "migration ratio limit", "migrations/iteration"),
	}
}

func (l Limits) all() []Limit {
	return []Limit{l.Gap, l.Spread, l.ThroughputCV, l.WorkRate, l.WakeP99, l.WakeCV, l.IterationRate, l.MigrationRatio}
}

// notes returns one line per scaled limit, for Result.Notes.
func (l Limits) notes() []string {
	var out []string
	for _, x := range l.all() {
		if x.On && x.Scaled() {
			out = append(out, "scaled for slowdown: "+x.String())
		}
	}
	return out
}
