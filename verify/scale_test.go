package verify

import (
	"math"
	"reflect"
	"testing"
)

func TestEnvFactor(t *testing.T) {
	for _, tc := range []struct {
		slowdown, want float64
	}{
		{0, 1}, {1, 1}, {0.5, 1}, {-3, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1.1, 1.1}, {3, 3},
	} {
		if got := (Env{Slowdown: tc.slowdown}).Factor(); got != tc.want {
			t.Errorf("Factor(%v) = %v, want %v", tc.slowdown, got, tc.want)
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

func TestScaledLimits(t *testing.T) {
	type eff struct{ gap, spread, tcv, wr, p99, wcv, ir, mr float64 }
	for _, tc := range []struct {
		name string
		cfg  Config
		env  Env
		want eff
	}{
		// KVM: effective = configured everywhere.
		{"kvm", allLimits(), Env{Slowdown: 1, Accel: "kvm"}, eff{2000, 15, 0.3, 900, 5e6, 1.5, 10, 0.5}},
		// TCG x3: gap 2000*3 = 6000 ms; p99 5e6*3 = 1.5e7 ns; work rate
		// 900/3 = 300; iteration rate 10/3; spread, CVs and the migration
		// ratio unchanged.
		{"tcg x3", allLimits(), Env{Slowdown: 3, Accel: "tcg"}, eff{6000, 15, 0.3, 300, 1.5e7, 1.5, 10.0 / 3, 0.5}},
		// slowdown below 1 is ignored.
		{"slowdown 0.5", allLimits(), Env{Slowdown: 0.5, Accel: "tcg"}, eff{2000, 15, 0.3, 900, 5e6, 1.5, 10, 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ScaledLimits(tc.cfg, tc.env)
			got := eff{l.Gap.Effective, l.Spread.Effective, l.ThroughputCV.Effective, l.WorkRate.Effective,
				l.WakeP99.Effective, l.WakeCV.Effective, l.IterationRate.Effective, l.MigrationRatio.Effective}
			if got != tc.want {
				t.Errorf("effective limits = %+v, want %+v", got, tc.want)
			}
			if !l.Starvation || !l.Isolation {
				t.Errorf("starvation/isolation = %v/%v, want on", l.Starvation, l.Isolation)
			}
			for _, x := range l.all() {
				if !x.On {
					t.Errorf("%s off", x.Name)
				}
			}
			if l.Gap.Configured != 2000 || l.WorkRate.Configured != 900 {
				t.Errorf("configured values changed: %v, %v", l.Gap.Configured, l.WorkRate.Configured)
			}
		})
	}
}

func TestScaledLimitsEnablement(t *testing.T) {
	// Defaults: starvation, spread, gap on; everything else off.
	l := ScaledLimits(Defaults(), Env{})
	if !l.Starvation || !l.Spread.On || !l.Gap.On || l.Isolation || l.ThroughputCV.On || l.WorkRate.On ||
		l.WakeP99.On || l.WakeCV.On || l.IterationRate.On || l.MigrationRatio.On {
		t.Errorf("defaults: %+v", l)
	}
	// NotStarved on, gap disabled: starvation and spread stay on.
	l = ScaledLimits(Merge(Defaults(), Config{MaxGapMs: Disabled}), Env{})
	if !l.Starvation || !l.Spread.On || l.Gap.On {
		t.Errorf("gap disabled: starvation %v spread %v gap %v", l.Starvation, l.Spread.On, l.Gap.On)
	}
	// NotStarved off: the thresholds it governs are off even with values.
	l = ScaledLimits(Merge(Defaults(), Config{NotStarved: Off}), Env{})
	if l.Starvation || l.Spread.On || l.Gap.On {
		t.Errorf("not_starved off: starvation %v spread %v gap %v", l.Starvation, l.Spread.On, l.Gap.On)
	}
	// Unset everything: all off.
	if got := ScaledLimits(Config{}, Env{Slowdown: 3}); !reflect.DeepEqual(got.notes(), []string(nil)) || got.Starvation || got.Gap.On {
		t.Errorf("empty config: %+v", got)
	}
}

func TestLimitString(t *testing.T) {
	tcg := ScaledLimits(allLimits(), Env{Slowdown: 3, Accel: "tcg"})
	kvm := ScaledLimits(allLimits(), Env{Slowdown: 1, Accel: "kvm"})
	noAccel := ScaledLimits(allLimits(), Env{Slowdown: 2})
	for _, tc := range []struct {
		l    Limit
		want string
	}{
		{tcg.Gap, "gap limit 2000 ms x3 (tcg) = 6000 ms"},
		{tcg.WakeP99, "wake p99 limit 5000000 ns x3 (tcg) = 15000000 ns"},
		{tcg.WorkRate, "work rate limit 900 units/CPU-s /3 (tcg) = 300 units/CPU-s"},
		// 10/3 = 3.333... shown with three decimals.
		{tcg.IterationRate, "iteration rate limit 10 iterations/s /3 (tcg) = 3.333 iterations/s"},
		{tcg.Spread, "spread limit 15%"},
		{tcg.ThroughputCV, "throughput CV limit 0.3"},
		{tcg.MigrationRatio, "migration ratio limit 0.5 migrations/iteration"},
		{kvm.Gap, "gap limit 2000 ms"},
		{noAccel.Gap, "gap limit 2000 ms x2 (slowdown) = 4000 ms"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	want := []string{
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
