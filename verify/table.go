package verify

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
)

// Kind is what a setting is: a switch, a limit, or a parameter of other
// checks.
type Kind int8

// Setting kinds.
const (
	// Switch is a Bool setting: a check that is on or off, with no limit.
	Switch Kind = iota
	// Maximum is a Threshold the measured value must not exceed.
	Maximum
	// Minimum is a Threshold the measured value must not fall below.
	Minimum
	// Parameter is a Threshold that tunes other checks; it is no check of
	// its own and has no id.
	Parameter
)

func (k Kind) String() string {
	switch k {
	case Switch:
		return "switch"
	case Maximum:
		return "max"
	case Minimum:
		return "min"
	case Parameter:
		return "parameter"
	}
	return fmt.Sprintf("Kind(%d)", int8(k))
}

// Scope says what evaluates a setting's check.
type Scope int8

// Scopes.
const (
	// CgroupScope checks are evaluated by Check, once per cgroup, over the
	// reports of its workers.
	CgroupScope Scope = iota
	// MonitorScope checks are evaluated by CheckMonitor, over the series
	// of samples the host-side monitor took of the guest's runqueues
	// during the test function; Check leaves them alone.
	MonitorScope
)

func (s Scope) String() string {
	switch s {
	case CgroupScope:
		return "cgroup"
	case MonitorScope:
		return "monitor"
	}
	return fmt.Sprintf("Scope(%d)", int8(s))
}

// A Setting declares one Config field and the check it configures. The
// table of settings (Settings) is the one place a check is declared: Merge,
// Validate, Defaults, ScaledLimits, Check, CheckMonitor and FromStruct
// iterate it, as the drivers of golang.org/x/tools/go/analysis iterate a
// list of analyzers. Adding a check takes a table entry, its evaluation
// function and the Config field (and the same field in ktstr.Test).
type Setting struct {
	// ID is the check's stable id, used as Failure.Check and Limit.Check;
	// empty for a Parameter.
	ID string
	// Field is the Go name of the Config field: a Bool for a Switch, a
	// Threshold for the other kinds.
	Field string
	// Kind says whether the setting is a Switch, a limit (Maximum,
	// Minimum) or a Parameter of other checks.
	Kind Kind
	// Scope says what evaluates the check.
	Scope Scope
	// Default is the framework default (see Defaults), of the field's type;
	// nil leaves the field unset.
	Default any
	// Gate names a Switch that must be on as well for the check to run
	// ("NotStarved" for spread and gap); empty when the setting alone
	// decides.
	Gate string
	// Name and Unit describe the limit in messages: "gap limit", "ms".
	Name, Unit string
	// Scaling is how the limit follows Env.Scale.
	Scaling Scaling
	// Rule is what a value must satisfy beyond being finite and not
	// negative, worded as Validate reports it after "<Field> is <value>: ";
	// empty when there is nothing more.
	Rule string
	// Formula says in one line what is measured, for documentation; the
	// doc comment of the check's function has the details.
	Formula string

	valid func(v float64) bool // reports whether v satisfies Rule; nil without a Rule
	run   cgroupCheck          // evaluates a CgroupScope check; nil otherwise
	mon   monitorCheck         // evaluates a MonitorScope check; nil otherwise
	// needs is what a MonitorScope check needs from the series; without
	// it CheckMonitor skips the check with a note.
	needs monitorNeed
}

// A cgroupCheck evaluates one check on one cgroup against the check's
// effective limit l (l.On is true). It returns the failures and the notes
// (workers left out, the check skipped for lack of data, ...).
type cgroupCheck func(cg CgroupReport, l Limit) ([]Failure, []string)

// Validation functions of the table's Rules.

func atMost100(v float64) bool     { return v <= 100 }
func wholeAtLeast1(v float64) bool { return v >= 1 && v == math.Trunc(v) }

// table declares every setting of Config. Check runs the CgroupScope
// checks in this order, CheckMonitor the MonitorScope ones.
var table = []Setting{
	{
		ID: CheckStarvation, Field: "NotStarved", Kind: Switch, Default: On,
		Name:    "starvation check",
		Formula: "per worker: zero work units fails (NotStarved also switches spread and gap)",
		run:     checkStarvation,
	},
	{
		ID: CheckSpread, Field: "MaxSpreadPct", Kind: Maximum, Default: Val(15), Gate: "NotStarved",
		Name: "spread limit", Unit: "%", Scaling: Multiplied,
		Rule: "a percentage is at most 100", valid: atMost100,
		Formula: "per cgroup with ≥ 2 workers: max − min of 100·off-CPU/wall",
		run:     checkSpread,
	},
	{
		ID: CheckGap, Field: "MaxGapMs", Kind: Maximum, Default: Val(2000), Gate: "NotStarved",
		Name: "gap limit", Unit: "ms", Scaling: Multiplied,
		Formula: "per cgroup: longest gap between a worker's progress checkpoints",
		run:     checkGap,
	},
	{
		ID: CheckIsolation, Field: "Isolation", Kind: Switch, Default: Off,
		Name:    "isolation check",
		Formula: "per worker: every CPU it ran on is in its cgroup's cpuset",
		run:     checkIsolation,
	},
	{
		ID: CheckThroughputCV, Field: "MaxThroughputCV", Kind: Maximum,
		Name:    "throughput CV limit",
		Formula: "per cgroup with ≥ 2 workers: population stddev / mean of work units per CPU-second",
		run:     checkThroughputCV,
	},
	{
		ID: CheckWorkRate, Field: "MinWorkRate", Kind: Minimum,
		Name: "work rate limit", Unit: "units/CPU-s", Scaling: Divided,
		Formula: "per worker: work units per CPU-second",
		run:     checkWorkRate,
	},
	{
		ID: CheckWakeP99, Field: "MaxP99WakeLatencyNs", Kind: Maximum,
		Name: "wake p99 limit", Unit: "ns", Scaling: Multiplied,
		Formula: "per cgroup: p99 of the pooled wake latency samples, nearest rank ⌈0.99·n⌉",
		run:     checkWakeP99,
	},
	{
		ID: CheckWakeCV, Field: "MaxWakeLatencyCV", Kind: Maximum,
		Name:    "wake latency CV limit",
		Formula: "per cgroup: population stddev / mean of the pooled wake latency samples",
		run:     checkWakeCV,
	},
	{
		ID: CheckIterationRate, Field: "MinIterationRate", Kind: Minimum,
		Name: "iteration rate limit", Unit: "iterations/s", Scaling: Divided,
		Formula: "per worker: iterations per wall-clock second",
		run:     checkIterationRate,
	},
	{
		ID: CheckMigrationRatio, Field: "MaxMigrationRatio", Kind: Maximum,
		Name: "migration ratio limit", Unit: "migrations/iteration",
		Formula: "per cgroup: Σ migrations / Σ iterations",
		run:     checkMigrationRatio,
	},

	// The host-side monitor's checks (CheckMonitor). Each fails only when
	// its violation lasts SustainedSamples consecutive judged samples.
	{
		ID: CheckImbalanceRatio, Field: "MaxImbalanceRatio", Kind: Maximum, Scope: MonitorScope, Default: Val(4),
		Name:    "imbalance ratio limit",
		Formula: "per sample, sched_ext only: max over CPUs of nr_running / max(1, min over CPUs of nr_running)",
		mon:     checkImbalance, needs: needSchedExt,
	},
	{
		ID: CheckLocalDSQDepth, Field: "MaxLocalDSQDepth", Kind: Maximum, Scope: MonitorScope, Default: Val(50),
		Name: "local DSQ depth limit", Unit: "tasks",
		Formula: "per sample, sched_ext only: the deepest local DSQ of any CPU (rq->scx.local_dsq.nr)",
		mon:     checkLocalDSQ, needs: needSchedExt | needScx,
	},
	{
		ID: CheckStall, Field: "FailOnStall", Kind: Switch, Scope: MonitorScope, Default: On,
		Name:    "stall check",
		Formula: "per CPU and interval, any scheduler: runnable, rq->clock unchanged, and its vCPU ran ≥ a tenth of the interval",
		mon:     checkStall, needs: needVCPUTime,
	},
	{
		Field: "SustainedSamples", Kind: Parameter, Scope: MonitorScope, Default: Val(5),
		Name: "sustained samples", Unit: "samples",
		Rule: "must be a whole number of at least 1", valid: wholeAtLeast1,
		Formula: "consecutive judged monitor samples a monitor check's violation must last to fail it",
	},
	{
		ID: CheckFallbackRate, Field: "MaxFallbackRate", Kind: Maximum, Scope: MonitorScope, Default: Val(200),
		Name: "fallback rate limit", Unit: "events/s", Scaling: Divided,
		Formula: "per interval, sched_ext only: Σ over CPUs of the select-cpu fallback counter's increase / seconds",
		mon:     checkFallbackRate, needs: needSchedExt | needEvents,
	},
	{
		ID: CheckKeepLastRate, Field: "MaxKeepLastRate", Kind: Maximum, Scope: MonitorScope, Default: Val(100),
		Name: "keep-last rate limit", Unit: "events/s", Scaling: Divided,
		Formula: "per interval, sched_ext only: Σ over CPUs of the dispatch keep-last counter's increase / seconds",
		mon:     checkKeepLastRate, needs: needSchedExt | needEvents,
	},
}

// Settings returns a copy of the table of settings, in table order: every
// Config field with its check id, kind, default, unit, scaling, formula and
// scope.
func Settings() []Setting { return slices.Clone(table) }

// Evaluated reports whether the setting's check is evaluated: by Check
// (CgroupScope) or CheckMonitor (MonitorScope). A Parameter is evaluated
// by the checks it tunes.
func (s Setting) Evaluated() bool { return s.run != nil || s.mon != nil || s.Kind == Parameter }

// setter is what Bool and Threshold have in common.
type setter interface{ Set() bool }

// field returns the field of *c that s configures; it is settable.
func (s *Setting) field(c *Config) reflect.Value { return configField(c, s.Field) }

// get returns the value of the field of c that s configures: a Bool or a
// Threshold.
func (s *Setting) get(c *Config) any { return s.field(c).Interface() }

// gateOn reports whether the setting's Gate is on (true without a Gate).
func (s *Setting) gateOn(c *Config) bool {
	return s.Gate == "" || configField(c, s.Gate).Interface().(Bool).True()
}

func configField(c *Config, name string) reflect.Value {
	f := reflect.ValueOf(c).Elem().FieldByName(name)
	if !f.IsValid() {
		panic("verify: the table names " + name + ", which is no Config field")
	}
	return f
}

// fieldType is the Config field type a setting of kind k needs.
func fieldType(k Kind) reflect.Type {
	if k == Switch {
		return reflect.TypeFor[Bool]()
	}
	return reflect.TypeFor[Threshold]()
}

// FromStruct returns the Config whose settings are copied from the fields
// of v with the same names, so a struct that declares the settings as its
// own fields (ktstr.Test) yields its level of the merge chain in one call.
// v is a struct or a non-nil pointer to one; each field the table names
// must be an exported field of v of the same type (Bool or Threshold, or
// aliases of them), and v's other fields are ignored. The error names
// every table field v lacks or has with another type.
func FromStruct(v any) (Config, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return Config{}, fmt.Errorf("verify.FromStruct: nil %s", rv.Type())
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return Config{}, fmt.Errorf("verify.FromStruct: %T is not a struct or a pointer to one", v)
	}
	var c Config
	var errs []error
	for i := range table {
		s := &table[i]
		want := fieldType(s.Kind)
		sf, ok := rv.Type().FieldByName(s.Field)
		switch {
		case !ok || !sf.IsExported():
			errs = append(errs, fmt.Errorf("%s has no exported field %s (%s)", rv.Type(), s.Field, want))
			continue
		case sf.Type != want:
			errs = append(errs, fmt.Errorf("%s.%s is a %s, want %s", rv.Type(), s.Field, sf.Type, want))
			continue
		}
		f, err := rv.FieldByIndexErr(sf.Index)
		if err != nil { // through a nil embedded pointer: unset
			continue
		}
		s.field(&c).Set(f)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// tableErrors returns every way table and the struct type config (Config)
// disagree, and every entry that breaks the table's own rules.
func tableErrors(config reflect.Type, table []Setting) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	kinds := map[string]Kind{}
	ids := map[string]bool{}
	for _, s := range table {
		if _, dup := kinds[s.Field]; dup {
			bad("%s: declared twice", s.Field)
		}
		kinds[s.Field] = s.Kind
		want := fieldType(s.Kind)
		if sf, ok := config.FieldByName(s.Field); !ok || !sf.IsExported() {
			bad("%s: no such exported field in %s", s.Field, config)
		} else if sf.Type != want {
			bad("%s: %s field is a %s, a %s setting needs a %s", s.Field, config, sf.Type, s.Kind, want)
		}
		if s.Default != nil && reflect.TypeOf(s.Default) != want {
			bad("%s: default %v is a %T, want a %s", s.Field, s.Default, s.Default, want)
		}
		switch {
		case (s.ID == "") != (s.Kind == Parameter):
			bad("%s: a %s setting with id %q: checks have an id, parameters none", s.Field, s.Kind, s.ID)
		case s.ID != "" && ids[s.ID]:
			bad("%s: id %q used twice", s.Field, s.ID)
		}
		ids[s.ID] = true
		if s.Scaling != Unscaled && s.Kind != Maximum && s.Kind != Minimum {
			bad("%s: only limits scale, not a %s", s.Field, s.Kind)
		}
		if (s.Rule == "") != (s.valid == nil) || (s.Rule != "" && s.Kind == Switch) {
			bad("%s: a Rule needs its validation function and a Threshold", s.Field)
		}
		if s.Name == "" || s.Formula == "" {
			bad("%s: Name and Formula are required", s.Field)
		}
		switch s.Scope {
		case CgroupScope:
			if s.run == nil || s.ID == "" {
				bad("%s: a cgroup check needs an id and an evaluation function", s.Field)
			}
			if s.mon != nil || s.needs != 0 {
				bad("%s: CheckMonitor does not run cgroup checks", s.Field)
			}
		case MonitorScope:
			if s.run != nil {
				bad("%s: Check does not run monitor checks", s.Field)
			}
			if (s.mon == nil) != (s.Kind == Parameter) || (s.needs != 0 && s.mon == nil) {
				bad("%s: a monitor check needs its monitor evaluation function, a monitor parameter none", s.Field)
			}
		default:
			bad("%s: unknown scope %v", s.Field, s.Scope)
		}
	}
	for _, s := range table {
		if k, ok := kinds[s.Gate]; s.Gate != "" && (!ok || k != Switch) {
			bad("%s: gate %s is not a Switch setting", s.Field, s.Gate)
		}
	}
	for i := range config.NumField() {
		if f := config.Field(i); f.IsExported() {
			if _, ok := kinds[f.Name]; !ok {
				bad("%s.%s: no table entry", config, f.Name)
			}
		}
	}
	return errs
}
