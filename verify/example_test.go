package verify_test

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/ktstr-go/ktstr/verify"
)

// The table of settings lists every check with its Config field, kind,
// framework default, unit, scaling under a slow accelerator and what
// evaluates it (Check the cgroup scope, CheckMonitor the monitor's); the
// formulas can generate the documentation.
func ExampleSettings() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "field\tcheck\tkind\tdefault\tunit\tscaling\tscope")
	or := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, s := range verify.Settings() {
		def := "-"
		if s.Default != nil {
			def = fmt.Sprint(s.Default)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Field, or(s.ID), s.Kind, def, or(s.Unit), s.Scaling, s.Scope)
	}
	tw.Flush()
	fmt.Println()
	for _, s := range verify.Settings()[:3] {
		fmt.Printf("%s (%s): %s\n", s.Field, s.ID, s.Formula)
	}
	// Output:
	// field               check           kind      default unit                 scaling    scope
	// NotStarved          starvation      switch    on      -                    unscaled   cgroup
	// MaxSpreadPct        spread          max       15      %                    multiplied cgroup
	// MaxGapMs            gap             max       2000    ms                   multiplied cgroup
	// Isolation           isolation       switch    off     -                    unscaled   cgroup
	// MaxThroughputCV     throughput_cv   max       -       -                    unscaled   cgroup
	// MinWorkRate         work_rate       min       -       units/CPU-s          divided    cgroup
	// MaxP99WakeLatencyNs wake_p99        max       -       ns                   multiplied cgroup
	// MaxWakeLatencyCV    wake_cv         max       -       -                    unscaled   cgroup
	// MinIterationRate    iteration_rate  min       -       iterations/s         divided    cgroup
	// MaxMigrationRatio   migration_ratio max       -       migrations/iteration unscaled   cgroup
	// MaxImbalanceRatio   imbalance_ratio max       4       -                    unscaled   monitor
	// MaxLocalDSQDepth    local_dsq_depth max       50      tasks                unscaled   monitor
	// FailOnStall         stall           switch    on      -                    unscaled   monitor
	// SustainedSamples    -               parameter 5       samples              unscaled   monitor
	// MaxFallbackRate     fallback_rate   max       200     events/s             divided    monitor
	// MaxKeepLastRate     keep_last_rate  max       100     events/s             divided    monitor
	//
	// NotStarved (starvation): per worker: zero work units fails (NotStarved also switches spread and gap)
	// MaxSpreadPct (spread): per cgroup with ≥ 2 workers: max − min of 100·off-CPU/wall
	// MaxGapMs (gap): per cgroup: longest gap between a worker's progress checkpoints
}

// FromStruct copies the settings out of a struct that declares them as its
// own fields, as ktstr.Test does, giving that struct's level of the merge
// chain.
func ExampleFromStruct() {
	type test struct {
		Name                                                  string
		NotStarved, Isolation, FailOnStall                    verify.Bool
		MaxGapMs, MaxSpreadPct, MaxThroughputCV               verify.Threshold
		MinWorkRate, MaxImbalanceRatio, MaxLocalDSQDepth      verify.Threshold
		SustainedSamples, MaxFallbackRate                     verify.Threshold
		MaxKeepLastRate, MaxP99WakeLatencyNs                  verify.Threshold
		MaxWakeLatencyCV, MinIterationRate, MaxMigrationRatio verify.Threshold
	}
	level, err := verify.FromStruct(test{Name: "slow", MaxGapMs: verify.Val(5000), Isolation: verify.On})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := verify.Merge(verify.Defaults(), level)
	fmt.Println(cfg.MaxGapMs, cfg.MaxSpreadPct, cfg.Isolation, cfg.MinWorkRate)

	_, err = verify.FromStruct(struct{ NotStarved bool }{})
	fmt.Println(err != nil)
	// Output:
	// 5000 15 on inherit
	// true
}
