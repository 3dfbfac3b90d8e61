package verify

import (
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestEnvFactor(t *testing.T) {
	for _, tc := range []struct {
		scale, want float64
	}{
		{0, 1}, {1, 1}, {0.5, 1}, {-3, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1.1, 1.1}, {3, 3},
	} {
		if got := (Env{Scale: tc.scale}).Factor(); got != tc.want {
			t.Errorf("Factor(%v) = %v, want %v", tc.scale, got, tc.want)
		}
	}
}

// all sets every threshold Check uses.
func allLimits() Config {
	c := Defaults()
	c.Isolation = On
	c.MaxThroughputCV = Val(0.3)
	c.MinWorkRate = Val(900)
	c.MaxP99WakeLatencyNs = Val(5e6)
	c.MaxWakeLatencyCV = Val(1.5)
	c.MinIterationRate = Val(10)
	c.MaxMigrationRatio = Val(0.5)
	return c
}

// get returns the limit of check id, failing the test when there is none.
func get(t *testing.T, ls Limits, id string) Limit {
	t.Helper()
	l, ok := ls.Lookup(id)
	if !ok {
		t.Fatalf("no limit for check %q in %+v", id, ls)
	}
	return l
}

// cgroupChecks are the ids of the checks Check evaluates, in order.
var cgroupChecks = []string{CheckStarvation, CheckSpread, CheckGap, CheckIsolation, CheckThroughputCV, CheckWorkRate,
	CheckWakeP99, CheckWakeCV, CheckIterationRate, CheckMigrationRatio}

// monitorChecks are the ids of the checks CheckMonitor evaluates, in order.
var monitorChecks = []string{CheckImbalanceRatio, CheckLocalDSQDepth, CheckStall, CheckFallbackRate, CheckKeepLastRate}

func TestScaledLimits(t *testing.T) {
	type eff struct{ gap, spread, tcv, wr, p99, wcv, ir, mr float64 }
	for _, tc := range []struct {
		name string
		cfg  Config
		env  Env
		want eff
	}{
		// KVM: effective = configured everywhere.
		{"kvm", allLimits(), Env{Scale: 1, Accel: "kvm"}, eff{2000, 15, 0.3, 900, 5e6, 1.5, 10, 0.5}},
		// TCG x3: gap 2000*3 = 6000 ms; p99 5e6*3 = 1.5e7 ns; work rate
		// 900/3 = 300; iteration rate 10/3; spread 15*3 = 45%; CVs and the
		// migration ratio unchanged.
		{"tcg x3", allLimits(), Env{Scale: 3, Accel: "tcg"}, eff{6000, 45, 0.3, 300, 1.5e7, 1.5, 10.0 / 3, 0.5}},
		// a scale below 1 is ignored.
		{"scale 0.5", allLimits(), Env{Scale: 0.5, Accel: "tcg"}, eff{2000, 15, 0.3, 900, 5e6, 1.5, 10, 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ScaledLimits(tc.cfg, tc.env)
			e := func(id string) float64 { return get(t, l, id).Effective }
			got := eff{e(CheckGap), e(CheckSpread), e(CheckThroughputCV), e(CheckWorkRate),
				e(CheckWakeP99), e(CheckWakeCV), e(CheckIterationRate), e(CheckMigrationRatio)}
			if got != tc.want {
				t.Errorf("effective limits = %+v, want %+v", got, tc.want)
			}
			for _, id := range cgroupChecks {
				if x := get(t, l, id); !x.On || x.Scope != CgroupScope {
					t.Errorf("%s: on %v scope %v, want on, cgroup", id, x.On, x.Scope)
				}
			}
			if g, w := get(t, l, CheckGap), get(t, l, CheckWorkRate); g.Configured != 2000 || w.Configured != 900 {
				t.Errorf("configured values changed: %v, %v", g.Configured, w.Configured)
			}
		})
	}
}

// TestScaledLimitsOrder: one limit per check id, in table order, the
// cgroup checks first.
func TestScaledLimitsOrder(t *testing.T) {
	var got []string
	for _, l := range ScaledLimits(Defaults(), Env{}) {
		got = append(got, l.Check)
	}
	want := append(slices.Clone(cgroupChecks), monitorChecks...)
	if !slices.Equal(got, want) {
		t.Errorf("limits for %q, want %q", got, want)
	}
	if _, ok := ScaledLimits(Defaults(), Env{}).Lookup("sustained_samples"); ok {
		t.Error("SustainedSamples is a parameter, not a check: it has no limit")
	}
}

func TestScaledLimitsEnablement(t *testing.T) {
	on := func(ls Limits) []string {
		var out []string
		for _, l := range ls {
			if l.On {
				out = append(out, l.Check)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		// Defaults: starvation, spread, gap and the monitor's checks on;
		// everything else off.
		{"defaults", Defaults(), append([]string{CheckStarvation, CheckSpread, CheckGap}, monitorChecks...)},
		// NotStarved on, gap disabled: starvation and spread stay on.
		{"gap disabled", Merge(Defaults(), Config{MaxGapMs: Disabled}), append([]string{CheckStarvation, CheckSpread}, monitorChecks...)},
		// NotStarved off: the thresholds it gates are off even with values;
		// the monitor's checks are not gated.
		{"not_starved off", Merge(Defaults(), Config{NotStarved: Off}), monitorChecks},
		// the monitor's checks switched off.
		{"monitor off", Merge(Defaults(), Config{MaxImbalanceRatio: Disabled, MaxLocalDSQDepth: Disabled, FailOnStall: Off,
			MaxFallbackRate: Disabled, MaxKeepLastRate: Disabled}), []string{CheckStarvation, CheckSpread, CheckGap}},
		// Unset everything: all off.
		{"empty", Config{}, nil},
		// monitor limits are on when set.
		{"monitor", Config{FailOnStall: On, MaxFallbackRate: Val(3), SustainedSamples: Val(2)}, []string{CheckStall, CheckFallbackRate}},
	} {
		if got := on(ScaledLimits(tc.cfg, Env{Scale: 3})); !slices.Equal(got, tc.want) {
			t.Errorf("%s: on %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := ScaledLimits(Config{}, Env{Scale: 3}).notes(); got != nil {
		t.Errorf("empty config notes: %q", got)
	}
	// a gated-off limit keeps its configured value, unscaled.
	if g := get(t, ScaledLimits(Merge(Defaults(), Config{NotStarved: Off}), Env{Scale: 3}), CheckGap); g.Configured != 2000 || g.Effective != 2000 || g.Factor != 1 || g.Accel != "" {
		t.Errorf("gated-off gap limit: %+v", g)
	}
}

func TestLimitString(t *testing.T) {
	tcg := ScaledLimits(allLimits(), Env{Scale: 3, Accel: "tcg"})
	kvm := ScaledLimits(allLimits(), Env{Scale: 1, Accel: "kvm"})
	noAccel := ScaledLimits(allLimits(), Env{Scale: 2})
	for _, tc := range []struct {
		l    Limits
		id   string
		want string
	}{
		{tcg, CheckGap, "gap limit 2000 ms x3 (tcg) = 6000 ms"},
		{tcg, CheckWakeP99, "wake p99 limit 5000000 ns x3 (tcg) = 15000000 ns"},
		{tcg, CheckWorkRate, "work rate limit 900 units/CPU-s /3 (tcg) = 300 units/CPU-s"},
		// 10/3 = 3.333... shown with three decimals.
		{tcg, CheckIterationRate, "iteration rate limit 10 iterations/s /3 (tcg) = 3.333 iterations/s"},
		{tcg, CheckSpread, "spread limit 15% x3 (tcg) = 45%"},
		{tcg, CheckThroughputCV, "throughput CV limit 0.3"},
		{tcg, CheckMigrationRatio, "migration ratio limit 0.5 migrations/iteration"},
		{tcg, CheckIsolation, "isolation check"},
		{kvm, CheckGap, "gap limit 2000 ms"},
		{noAccel, CheckGap, "gap limit 2000 ms x2 (scale) = 4000 ms"},
	} {
		if got := get(t, tc.l, tc.id).String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	want := []string{
		"scaled for slowdown: spread limit 15% x3 (tcg) = 45%",
		"scaled for slowdown: gap limit 2000 ms x3 (tcg) = 6000 ms",
		"scaled for slowdown: work rate limit 900 units/CPU-s /3 (tcg) = 300 units/CPU-s",
		"scaled for slowdown: wake p99 limit 5000000 ns x3 (tcg) = 15000000 ns",
		"scaled for slowdown: iteration rate limit 10 iterations/s /3 (tcg) = 3.333 iterations/s",
	}
	if got := tcg.notes(); !reflect.DeepEqual(got, want) {
		t.Errorf("notes = %q, want %q", got, want)
	}
	if got := kvm.notes(); got != nil {
		t.Errorf("kvm notes = %q, want none", got)
	}
}
