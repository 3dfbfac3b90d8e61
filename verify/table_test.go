package verify

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestTable fails when Config and the table disagree: a Config field with
// no entry, an entry naming a missing field or a field of the wrong type,
// a default of the wrong type, a gate that is no Switch, ...
func TestTable(t *testing.T) {
	for _, err := range tableErrors(reflect.TypeFor[Config](), table) {
		t.Error(err)
	}
}

// TestTableErrors shows that tableErrors catches each disagreement.
func TestTableErrors(t *testing.T) {
	type cfg struct {
		NotStarved Bool
		MaxGapMs   Threshold
		Extra      Threshold
	}
	gap := Setting{ID: "gap", Field: "MaxGapMs", Kind: Maximum, Gate: "NotStarved", Name: "gap limit", Formula: "f", run: checkGap}
	ns := Setting{ID: "starvation", Field: "NotStarved", Kind: Switch, Name: "n", Formula: "f", run: checkStarvation}
	with := func(s Setting, f func(*Setting)) Setting { f(&s); return s }
	for _, tc := range []struct {
		name  string
		table []Setting
		want  string
	}{
		{"config field without entry", []Setting{ns, gap}, "cfg.Extra: no table entry"},
		{"missing field", []Setting{ns, gap, with(gap, func(s *Setting) { s.Field, s.ID = "MaxNope", "nope" })}, "MaxNope: no such exported field"},
		{"wrong type", []Setting{ns, gap, with(gap, func(s *Setting) { s.Field, s.ID, s.Kind = "Extra", "x", Switch })},
			"Extra: verify.cfg field is a verify.Threshold, a switch setting needs a verify.Bool"},
		{"default of the wrong type", []Setting{with(ns, func(s *Setting) { s.Default = Val(1) }), gap}, "NotStarved: default 1 is a verify.Threshold"},
		{"gate not a switch", []Setting{ns, with(gap, func(s *Setting) { s.Gate = "MaxGapMs" })}, "gate MaxGapMs is not a Switch"},
		{"duplicate id", []Setting{ns, gap, with(gap, func(s *Setting) { s.Field = "Extra" })}, `id "gap" used twice`},
		{"parameter with an id", []Setting{ns, with(gap, func(s *Setting) { s.Kind = Parameter })}, "checks have an id, parameters none"},
		{"cgroup check without function", []Setting{ns, with(gap, func(s *Setting) { s.run = nil })}, "needs an id and an evaluation function"},
		{"monitor check without its function", []Setting{ns, with(gap, func(s *Setting) { s.Scope, s.run = MonitorScope, nil })},
			"a monitor check needs its monitor evaluation function"},
		{"monitor check with Check's function", []Setting{ns, with(gap, func(s *Setting) { s.Scope, s.mon = MonitorScope, checkStall })},
			"Check does not run monitor checks"},
		{"monitor parameter with a function", []Setting{ns, gap, {Field: "Extra", Kind: Parameter, Scope: MonitorScope, Name: "x", Formula: "f", mon: checkStall}},
			"a monitor parameter none"},
		{"cgroup check with a monitor function", []Setting{ns, with(gap, func(s *Setting) { s.mon = checkStall })},
			"CheckMonitor does not run cgroup checks"},
		{"rule without function", []Setting{ns, with(gap, func(s *Setting) { s.Rule = "at most 1" })}, "a Rule needs its validation function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := errors.Join(tableErrors(reflect.TypeFor[cfg](), tc.table)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("errors %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The ids are stable: results on disk and on the wire use them.
func TestCheckIDs(t *testing.T) {
	var ids, fields []string
	for _, s := range Settings() {
		ids = append(ids, s.ID)
		fields = append(fields, s.Field)
	}
	want := []string{"starvation", "spread", "gap", "isolation", "throughput_cv", "work_rate", "wake_p99", "wake_cv",
		"iteration_rate", "migration_ratio", "imbalance_ratio", "local_dsq_depth", "stall", "", "fallback_rate", "keep_last_rate"}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	wantFields := []string{"NotStarved", "MaxSpreadPct", "MaxGapMs", "Isolation", "MaxThroughputCV", "MinWorkRate",
		"MaxP99WakeLatencyNs", "MaxWakeLatencyCV", "MinIterationRate", "MaxMigrationRatio", "MaxImbalanceRatio",
		"MaxLocalDSQDepth", "FailOnStall", "SustainedSamples", "MaxFallbackRate", "MaxKeepLastRate"}
	if !slices.Equal(fields, wantFields) {
		t.Errorf("fields %q, want %q", fields, wantFields)
	}
	// every setting is evaluated: the cgroup checks by Check, the
	// monitor's by CheckMonitor, parameters by the checks they tune.
	for _, s := range Settings() {
		if !s.Evaluated() {
			t.Errorf("%s: not evaluated", s.Field)
		}
		if mon := s.Scope == MonitorScope && s.Kind != Parameter; (s.mon != nil) != mon || (s.run != nil) != (s.Scope == CgroupScope) {
			t.Errorf("%s: scope %v, kind %v, cgroup evaluator %v, monitor evaluator %v", s.Field, s.Scope, s.Kind, s.run != nil, s.mon != nil)
		}
		if strings.Contains(s.Formula, "no monitor") {
			t.Errorf("%s: formula %q still says no monitor evaluates it", s.Field, s.Formula)
		}
	}
}

// Settings returns a copy: changing it leaves the table alone.
func TestSettingsCopy(t *testing.T) {
	s := Settings()
	s[0].Default, s[0].Field = Off, "Changed"
	if Defaults().NotStarved != On || table[0].Field != "NotStarved" {
		t.Error("Settings aliases the table")
	}
}

func TestDefaults(t *testing.T) {
	want := Config{NotStarved: On, Isolation: Off, MaxSpreadPct: Val(15), MaxGapMs: Val(2000),
		MaxImbalanceRatio: Val(4), MaxLocalDSQDepth: Val(50), FailOnStall: On, SustainedSamples: Val(5),
		MaxFallbackRate: Val(200), MaxKeepLastRate: Val(100)}
	if got := Defaults(); got != want {
		t.Errorf("Defaults() = %+v, want %+v", got, want)
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

func TestMergeEveryField(t *testing.T) {
	// every setting set at the top level wins; each unset one inherits.
	low := Config{NotStarved: On, MaxGapMs: Val(1), MaxKeepLastRate: Val(2), SustainedSamples: Val(3), FailOnStall: On}
	high := Config{NotStarved: Off, MaxGapMs: Disabled, SustainedSamples: Val(5), MaxFallbackRate: Val(7)}
	want := Config{NotStarved: Off, MaxGapMs: Disabled, MaxKeepLastRate: Val(2), SustainedSamples: Val(5), FailOnStall: On, MaxFallbackRate: Val(7)}
	if got := Merge(low, high); got != want {
		t.Errorf("Merge = %+v, want %+v", got, want)
	}
	if got := Merge(); got != (Config{}) {
		t.Errorf("Merge() = %+v, want the zero Config", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // each in the error; none: valid
	}{
		{"empty", Config{}, nil},
		{"disabled", Config{MaxSpreadPct: Disabled, SustainedSamples: Disabled}, nil},
		{"bounds", Config{MaxSpreadPct: Val(100), SustainedSamples: Val(1), MaxGapMs: Val(0)}, nil},
		{"negative", Config{MaxGapMs: Val(-1)}, []string{"MaxGapMs is -1: thresholds cannot be negative"}},
		{"NaN", Config{MinWorkRate: Val(math.NaN())}, []string{"MinWorkRate is NaN: must be a finite number"}},
		{"Inf", Config{MaxKeepLastRate: Val(math.Inf(1))}, []string{"MaxKeepLastRate is +Inf: must be a finite number"}},
		{"spread above 100", Config{MaxSpreadPct: Val(150)}, []string{"MaxSpreadPct is 150: a percentage is at most 100"}},
		{"fractional samples", Config{SustainedSamples: Val(1.5)}, []string{"SustainedSamples is 1.5: must be a whole number of at least 1"}},
		{"zero samples", Config{SustainedSamples: Val(0)}, []string{"SustainedSamples is 0: must be a whole number of at least 1"}},
		{"bad Bool", Config{FailOnStall: Bool(7)}, []string{"FailOnStall is Bool(7): use On, Off or leave it unset"}},
		{"several", Config{NotStarved: Bool(-1), MaxMigrationRatio: Val(-2)},
			[]string{"NotStarved is Bool(-1)", "MaxMigrationRatio is -2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != (len(tc.want) > 0) {
				t.Fatalf("Validate() = %v, want errors %q", err, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want %q in it", err, w)
				}
			}
		})
	}
}

func TestFromStruct(t *testing.T) {
	// test mirrors ktstr.Test: the settings among other fields.
	type test struct {
		Name                string
		NotStarved          Bool
		Isolation           Bool
		MaxGapMs            Threshold
		MaxSpreadPct        Threshold
		MaxThroughputCV     Threshold
		MinWorkRate         Threshold
		MaxImbalanceRatio   Threshold
		MaxLocalDSQDepth    Threshold
		FailOnStall         Bool
		SustainedSamples    Threshold
		MaxFallbackRate     Threshold
		MaxKeepLastRate     Threshold
		MaxP99WakeLatencyNs Threshold
		MaxWakeLatencyCV    Threshold
		MinIterationRate    Threshold
		MaxMigrationRatio   Threshold
		Replicas            int
	}
	in := test{Name: "t", NotStarved: Off, MaxGapMs: Val(5000), MaxSpreadPct: Disabled, SustainedSamples: Val(3),
		MaxMigrationRatio: Val(0.5), FailOnStall: On, Replicas: 2}
	want := Config{NotStarved: Off, MaxGapMs: Val(5000), MaxSpreadPct: Disabled, SustainedSamples: Val(3),
		MaxMigrationRatio: Val(0.5), FailOnStall: On}
	for name, v := range map[string]any{"value": in, "pointer": &in} {
		if got, err := FromStruct(v); err != nil || got != want {
			t.Errorf("%s: FromStruct = %+v, %v; want %+v", name, got, err, want)
		}
	}
	// a Config is such a struct too.
	if got, err := FromStruct(want); err != nil || got != want {
		t.Errorf("FromStruct(Config) = %+v, %v", got, err)
	}

	// embedded structs promote their fields; a nil embedded pointer leaves
	// its fields unset.
	type outer struct {
		*test
		Other int
	}
	if got, err := FromStruct(outer{test: &in}); err != nil || got != want {
		t.Errorf("embedded: FromStruct = %+v, %v", got, err)
	}
	if got, err := FromStruct(outer{}); err != nil || got != (Config{}) {
		t.Errorf("nil embedded: FromStruct = %+v, %v", got, err)
	}

	type partial struct {
		NotStarved Bool
		MaxGapMs   float64
		isolation  Bool
	}
	_, err := FromStruct(partial{})
	if err == nil {
		t.Fatal("FromStruct(partial) succeeded")
	}
	for _, w := range []string{
		"verify.partial.MaxGapMs is a float64, want verify.Threshold",
		"verify.partial has no exported field Isolation (verify.Bool)",
		"verify.partial has no exported field MaxKeepLastRate (verify.Threshold)",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "NotStarved") {
		t.Errorf("error names a field that is fine: %v", err)
	}
	for _, v := range []any{nil, 3, (*test)(nil), []test{}} {
		if _, err := FromStruct(v); err == nil {
			t.Errorf("FromStruct(%#v) succeeded", v)
		}
	}
}
