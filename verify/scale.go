package verify

import (
	"fmt"
	"math"
)

// Env describes where the checked run happened.
type Env struct {
	// Scale is the factor check thresholds are scaled by: how much slower
	// the guest runs than on hardware virtualization, 1 (or unset) under
	// KVM, more under TCG emulation. Values that are not finite or not
	// above 1 count as 1.
	Scale float64 `json:"scale"`
	// Accel is the accelerator, "kvm" or "tcg"; it labels the scaling in
	// messages.
	Accel string `json:"accel"`
}

// Factor returns the scaling factor: Scale when it is finite and greater
// than 1, else 1.
func (e Env) Factor() float64 {
	if math.IsNaN(e.Scale) || math.IsInf(e.Scale, 0) || e.Scale <= 1 {
		return 1
	}
	return e.Scale
}

// label names the factor in messages: the accelerator, else "scale".
func (e Env) label() string {
	if e.Accel == "" {
		return "scale"
	}
	return e.Accel
}

// Scaling is how a limit follows Env.Scale.
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

func (s Scaling) String() string {
	switch s {
	case Unscaled:
		return "unscaled"
	case Multiplied:
		return "multiplied"
	case Divided:
		return "divided"
	}
	return fmt.Sprintf("Scaling(%d)", int8(s))
}

// Limit is one check's limit as the checks apply it.
type Limit struct {
	// Check is the check's id; Kind and Scope are its setting's.
	Check string `json:"check"`
	Kind  Kind   `json:"kind"`
	Scope Scope  `json:"scope"`
	// On reports whether the check runs.
	On bool `json:"on"`
	// Configured is the merged Config value; Effective is what the check
	// compares against after scaling; Factor is the factor applied (1 when
	// unscaled): 0, 0 and 1 for a Switch.
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
// one because of the scale factor.
func (l Limit) Scaled() bool { return l.Scaling != Unscaled && l.Factor != 1 }

// String describes the limit: "gap limit 2000 ms", or when scaled
// "gap limit 2000 ms x3 (tcg) = 6000 ms" (times) and
// "work rate limit 900 units/CPU-s /3 (tcg) = 300 units/CPU-s" (rates).
// A Switch has no value: its String is its Name ("isolation check").
func (l Limit) String() string {
	if l.Kind == Switch {
		return l.Name
	}
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

// Limits are the limits of every check of the table (every setting with
// an id, the monitor's included), in table order, after scaling.
type Limits []Limit

// Lookup returns the limit of the check with the given id.
func (ls Limits) Lookup(id string) (Limit, bool) {
	for _, l := range ls {
		if l.Check == id {
			return l, true
		}
	}
	return Limit{}, false
}

// ScaledLimits returns the limits of a merged cfg in env, as Check and
// CheckMonitor apply them.
//
// A check runs only when its Bool is On or its Threshold holds a value,
// and its setting's Gate is On. NotStarved switches starvation, spread and
// gap together; spread needs MaxSpreadPct and gap MaxGapMs to hold a value
// as well.
//
// With f = env.Factor() (the scale when above 1, else 1), by each
// setting's Scaling:
//   - time limits are multiplied: MaxGapMs and MaxP99WakeLatencyNs give
//     effective = configured × f, since everything takes f times longer;
//   - rate limits are divided: MinWorkRate, MinIterationRate,
//     MaxFallbackRate and MaxKeepLastRate give effective = configured / f,
//     since f times less happens per second;
//   - MaxSpreadPct (a percentage of wall time), MaxThroughputCV,
//     MaxWakeLatencyCV and MaxMigrationRatio (ratios), MaxImbalanceRatio (a
//     ratio) and MaxLocalDSQDepth (a count of tasks) are unscaled:
//     effective = configured. So are the stall check and SustainedSamples
//     (counts of samples, which the monitor takes at the same host-time
//     interval whatever the accelerator).
func ScaledLimits(cfg Config, env Env) Limits {
	var ls Limits
	for i := range table {
		if s := &table[i]; s.ID != "" {
			ls = append(ls, s.limit(&cfg, env))
		}
	}
	return ls
}

// limit returns the limit of s in a merged cfg.
func (s *Setting) limit(cfg *Config, env Env) Limit {
	l := Limit{Check: s.ID, Kind: s.Kind, Scope: s.Scope, Factor: 1, Scaling: s.Scaling, Name: s.Name, Unit: s.Unit}
	gate := s.gateOn(cfg)
	switch x := s.get(cfg).(type) {
	case Bool:
		l.On = gate && x.True()
		return l
	case Threshold:
		v, ok := x.Value()
		l.On, l.Configured, l.Effective = gate && ok, v, v
	}
	if !l.On {
		return l
	}
	f := env.Factor()
	switch s.Scaling {
	case Multiplied:
		l.Effective, l.Factor = l.Configured*f, f
	case Divided:
		l.Effective, l.Factor = l.Configured/f, f
	}
	if l.Factor != 1 {
		l.Accel = env.label()
	}
	return l
}

// notes returns one line per scaled limit Check applies, for
// Result.Notes.
func (ls Limits) notes() []string {
	var out []string
	for _, l := range ls {
		if l.On && l.Scope == CgroupScope && l.Scaled() {
			out = append(out, scaledNote(l))
		}
	}
	return out
}

// scaledNote is the note on a scaled limit.
func scaledNote(l Limit) string { return "scaled for slowdown: " + l.String() }
