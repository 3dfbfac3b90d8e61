package verify

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// healthyCPU is CPU c in sample i of a series no monitor check fails on:
// 2 runnable sched_ext tasks, 1 on the local DSQ, an rq clock advancing
// 100 ms per sample, a vCPU running 90 ms per sample, 4 fallbacks and 2
// keep-lasts per CPU and sample (2 CPUs: 80 and 40 events/s).
func healthyCPU(i, c int) CPUSample {
	return CPUSample{NrRunning: 2, ScxNrRunning: 2, LocalDSQ: 1, Clock: uint64(1e9 + i*1e8 + c),
		VCPUTime: uint64((i + 1) * 9e7), Fallback: uint64(4 * i), KeepLast: uint64(2 * i)}
}

// monSeries returns n samples of ncpu healthy CPUs, sample i taken at
// 1 s + i × 100 ms, each CPU then changed by mod (nil: none); a sched_ext
// scheduler is attached and the kernel exposes everything.
func monSeries(n, ncpu int, mod func(i, c int, x *CPUSample)) MonitorSeries {
	s := MonitorSeries{Interval: 100 * ms, SchedExt: true, HasScx: true, HasEvents: true, HasVCPUTime: true}
	for i := range n {
		smp := MonitorSample{At: s.Interval*time.Duration(i) + time.Second}
		for c := range ncpu {
			x := healthyCPU(i, c)
			if mod != nil {
				mod(i, c, &x)
			}
			smp.CPUs = append(smp.CPUs, x)
		}
		s.Samples = append(s.Samples, smp)
	}
	return s
}

// in reports whether lo ≤ i < hi.
func in(i, lo, hi int) bool { return lo <= i && i < hi }

// nr sets nr_running and scx.nr_running.
func nr(x *CPUSample, n uint32) { x.NrRunning, x.ScxNrRunning = n, n }

// imbalanced makes CPU 0 run 10 tasks (CPU 1 keeps 2: ratio 5) in the
// samples i with lo ≤ i < hi, for each [lo, hi) of spans.
func imbalanced(spans ...[2]int) func(i, c int, x *CPUSample) {
	return func(i, c int, x *CPUSample) {
		for _, sp := range spans {
			if c == 0 && in(i, sp[0], sp[1]) {
				nr(x, 10)
			}
		}
	}
}

// frozen freezes CPU cpu's rq clock from sample lo to hi−1 at its value
// in sample lo−1 (the intervals ending in lo..hi−1 stall).
func frozen(cpu, lo, hi int) func(i, c int, x *CPUSample) {
	return func(i, c int, x *CPUSample) {
		if c == cpu && in(i, lo, hi) {
			x.Clock = healthyCPU(lo-1, c).Clock
		}
	}
}

// both applies every modification in order.
func both(mods ...func(i, c int, x *CPUSample)) func(i, c int, x *CPUSample) {
	return func(i, c int, x *CPUSample) {
		for _, m := range mods {
			m(i, c, x)
		}
	}
}

// monitorOnly returns a config with only the monitor's checks on, at their
// defaults, changed by set.
func monitorOnly(set func(*Config)) Config {
	c := Merge(Defaults(), Config{NotStarved: Off})
	if set != nil {
		set(&c)
	}
	return c
}

type wantMonitorFailure struct {
	check        string
	value, limit float64
	cpus         []int
	msg          string // the whole message
}

func TestCheckMonitor(t *testing.T) {
	kvm := Env{Scale: 1, Accel: "kvm"}
	tcg2 := Env{Scale: 2, Accel: "tcg"}
	noScx := func(s MonitorSeries) MonitorSeries { s.SchedExt = false; return s }
	summary20 := "monitor: judged 20 of 20 samples taken every 100ms; a violation must last 5 consecutive samples"
	for _, tc := range []struct {
		name   string
		cfg    Config
		env    Env
		series MonitorSeries
		want   []wantMonitorFailure
		notes  []string // each a whole note
		absent []string // substrings no note may contain
	}{
		{
			name: "healthy", cfg: Defaults(), env: kvm, series: monSeries(20, 2, nil),
			notes: []string{summary20},
		},

		// --- imbalance ratio: max nr_running / max(1, min nr_running).
		{
			// samples 5..8: 10/2 = 5 > 4, four in a row: transient.
			name: "imbalance transient", cfg: Defaults(), env: kvm, series: monSeries(20, 2, imbalanced([2]int{5, 9})),
		},
		{
			// samples 5..9 (1.5 s to 1.9 s): five in a row.
			name: "imbalance sustained", cfg: Defaults(), env: kvm, series: monSeries(20, 2, imbalanced([2]int{5, 10})),
			want: []wantMonitorFailure{{CheckImbalanceRatio, 5, 4, []int{0, 1},
				"imbalance ratio 5.0 > imbalance ratio limit 4 for 5 consecutive samples (1.5 s to 1.9 s into the test; the only sustained window); worst at 1.5 s: CPU 0 nr_running 10, CPU 1 nr_running 2"}},
		},
		{
			// 5..11 and 13..17: two windows (7 and 5 samples), the first
			// reported; 12 passes between them. CPU 1 idle in sample 7:
			// 10 / max(1, 0) = 10, the worst.
			name: "imbalance windows", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(imbalanced([2]int{5, 12}, [2]int{13, 18}), func(i, c int, x *CPUSample) {
				if i == 7 && c == 1 {
					nr(x, 0)
				}
			})),
			want: []wantMonitorFailure{{CheckImbalanceRatio, 10, 4, []int{0, 1},
				"imbalance ratio 10.0 > imbalance ratio limit 4 for 7 consecutive samples (1.5 s to 2.1 s into the test; the first of 2 sustained windows); worst at 1.7 s: CPU 0 nr_running 10, CPU 1 nr_running 0"}},
		},
		{
			// the ratio is not scaled under TCG.
			name: "imbalance not scaled", cfg: Defaults(), env: tcg2, series: monSeries(20, 2, imbalanced([2]int{5, 10})),
			want: []wantMonitorFailure{{CheckImbalanceRatio, 5, 4, []int{0, 1},
				"imbalance ratio 5.0 > imbalance ratio limit 4 for 5 consecutive samples (1.5 s to 1.9 s into the test; the only sustained window); worst at 1.5 s: CPU 0 nr_running 10, CPU 1 nr_running 2"}},
		},
		{
			// 5..10 violate, but sample 8 reads nr_running 20000 on CPU 1:
			// discarded, leaving runs of 3 and 2.
			name: "discarded sample breaks the run", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(imbalanced([2]int{5, 11}), func(i, c int, x *CPUSample) {
				if i == 8 && c == 1 {
					x.NrRunning = 20000
				}
			})),
			notes: []string{"monitor: judged 19 of 20 samples taken every 100ms; 1 discarded as implausible " +
				"(1 with nr_running or a local DSQ depth above 10000; the first at 1.8 s: CPU 1 nr_running 20000); a violation must last 5 consecutive samples"},
		},
		{
			// under EEVDF the imbalance is not judged.
			name: "imbalance under EEVDF", cfg: Defaults(), env: kvm, series: noScx(monSeries(20, 2, imbalanced([2]int{5, 15}))),
			notes: []string{summary20, "monitor: no sched_ext scheduler attached (EEVDF): the monitor's sched_ext checks do not apply " +
				"(imbalance ratio, local DSQ depth, fallback rate and keep-last rate not checked)"},
		},
		{
			// SustainedSamples unset: one violating sample fails.
			name: "sustained unset", cfg: Config{MaxImbalanceRatio: Val(4)}, env: kvm, series: monSeries(20, 2, imbalanced([2]int{5, 6}, [2]int{9, 10})),
			want: []wantMonitorFailure{{CheckImbalanceRatio, 5, 4, []int{0, 1},
				"imbalance ratio 5.0 > imbalance ratio limit 4 in 1 sample (1.5 s into the test; the first of 2 sustained windows); worst at 1.5 s: CPU 0 nr_running 10, CPU 1 nr_running 2"}},
			notes: []string{"monitor: judged 20 of 20 samples taken every 100ms; a single violating sample fails a check"},
		},

		// --- local DSQ depth: the deepest local DSQ of any CPU.
		{
			name: "dsq transient", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 0 && in(i, 5, 9) {
					x.LocalDSQ = 61
				}
			}),
		},
		{
			// 61 and 55 on CPU 0 (5..11), 70 on CPU 1 in 9: worst 70; the
			// run is 7 long whichever CPU is over.
			name: "dsq sustained", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				switch {
				case c == 0 && in(i, 5, 12):
					x.LocalDSQ = 61 - uint32(i%2)*6
				case c == 1 && i == 9:
					x.LocalDSQ = 70
				}
			}),
			want: []wantMonitorFailure{{CheckLocalDSQDepth, 70, 50, []int{0, 1},
				"CPU 1 local DSQ depth 70 > local DSQ depth limit 50 tasks for 7 consecutive samples (1.5 s to 2.1 s into the test; the only sustained window); CPUs 0-1 over the limit in the window"}},
		},
		{
			name: "dsq at the limit", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) { x.LocalDSQ = 50 }),
		},
		{
			name: "dsq without rq->scx", cfg: Defaults(), env: kvm,
			series: func() MonitorSeries {
				s := monSeries(20, 2, func(i, c int, x *CPUSample) { x.ScxNrRunning, x.LocalDSQ = 0, 0 })
				s.HasScx = false
				return s
			}(),
			notes: []string{"monitor: local DSQ depth not checked: this kernel has no sched_ext runqueue fields (rq->scx)"},
		},

		// --- stall: runnable, clock frozen, vCPU ran ≥ a tenth of the
		// interval, on the same CPU.
		{
			// CPU 1 frozen in 5..8: four stalled intervals.
			name: "stall transient", cfg: Defaults(), env: kvm, series: monSeries(20, 2, frozen(1, 5, 9)),
		},
		{
			// CPU 1 frozen at its clock of sample 4 (1.4 s + 1 ns) in 5..9;
			// its vCPU ran 5 × 90 ms.
			name: "stall sustained", cfg: Defaults(), env: kvm, series: monSeries(20, 2, frozen(1, 5, 10)),
			want: []wantMonitorFailure{{CheckStall, 5, 5, []int{1},
				"CPU 1 stalled: runnable (nr_running up to 2) but its rq clock stayed at 1.400000 s while its vCPU ran 450ms, for 5 consecutive samples (1.5 s to 1.9 s into the test; the only sustained window)"}},
		},
		{
			// a stall fails under EEVDF too.
			name: "stall under EEVDF", cfg: Defaults(), env: kvm, series: noScx(monSeries(20, 2, frozen(1, 5, 10))),
			want: []wantMonitorFailure{{CheckStall, 5, 5, []int{1},
				"CPU 1 stalled: runnable (nr_running up to 2) but its rq clock stayed at 1.400000 s while its vCPU ran 450ms, for 5 consecutive samples (1.5 s to 1.9 s into the test; the only sustained window)"}},
			notes: []string{"monitor: no sched_ext scheduler attached (EEVDF): the monitor's sched_ext checks do not apply " +
				"(imbalance ratio, local DSQ depth, fallback rate and keep-last rate not checked)"},
		},
		{
			// both CPUs from 5, CPU 0 longer (5..11), then CPU 0 again in
			// 14..18: three windows; the first is CPU 0's (the lowest CPU
			// of those starting first), CPU 1 stalled with it.
			name: "stall on several CPUs", cfg: Defaults(), env: kvm,
			series: monSeries(20, 3, both(frozen(0, 5, 12), frozen(1, 5, 10), frozen(0, 14, 19))),
			want: []wantMonitorFailure{{CheckStall, 7, 5, []int{0, 1},
				"CPU 0 stalled: runnable (nr_running up to 2) but its rq clock stayed at 1.400000 s while its vCPU ran 630ms, for 7 consecutive samples (1.5 s to 2.1 s into the test; the first of 3 sustained windows); CPUs 0-1 stalled at the same time"}},
		},
		{
			// CPU 0 frozen in 5..7, CPU 1 in 8..10: six frozen intervals in
			// a row, but not on the same CPU.
			name: "stall must be on one CPU", cfg: Defaults(), env: kvm, series: monSeries(20, 2, both(frozen(0, 5, 8), frozen(1, 8, 11))),
		},
		{
			// the clock is frozen but the vCPU did not run (host
			// preemption): not a stall.
			name: "frozen clock, vCPU not running", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(frozen(1, 5, 15), func(i, c int, x *CPUSample) {
				if c == 1 && in(i, 5, 15) {
					x.VCPUTime = healthyCPU(4, c).VCPUTime
				}
			})),
			notes: []string{"monitor: stall: 10 time(s) a runnable CPU's clock stood still while its vCPU ran less than a tenth of the interval (host preemption, not judged)"},
		},
		{
			// the vCPU ran 9.999 ms per 100 ms interval: below a tenth.
			name: "vCPU ran just under a tenth", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(frozen(1, 5, 15), func(i, c int, x *CPUSample) {
				if c == 1 && in(i, 5, 15) {
					x.VCPUTime = healthyCPU(4, c).VCPUTime + uint64(i-4)*9999*uint64(us)
				}
			})),
			notes: []string{"monitor: stall: 10 time(s) a runnable CPU's clock stood still while its vCPU ran less than a tenth of the interval (host preemption, not judged)"},
		},
		{
			// exactly 10 ms per interval: a stall.
			name: "vCPU ran a tenth", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(frozen(1, 5, 10), func(i, c int, x *CPUSample) {
				if c == 1 && in(i, 5, 20) {
					x.VCPUTime = healthyCPU(4, c).VCPUTime + uint64(i-4)*uint64(10*ms)
				}
			})),
			want: []wantMonitorFailure{{CheckStall, 5, 5, []int{1},
				"CPU 1 stalled: runnable (nr_running up to 2) but its rq clock stayed at 1.400000 s while its vCPU ran 50ms, for 5 consecutive samples (1.5 s to 1.9 s into the test; the only sustained window)"}},
		},
		{
			// an idle CPU's clock stands still: not a stall.
			name: "frozen clock, idle CPU", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(frozen(1, 5, 15), func(i, c int, x *CPUSample) {
				if c == 1 && in(i, 4, 15) {
					nr(x, 0)
					x.LocalDSQ = 0
				}
			})),
			absent: []string{"stall"},
		},
		{
			// runnable in the sample before the frozen ones only: the
			// intervals need runnable tasks at both ends.
			name: "frozen clock, runnable at one end", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(frozen(1, 5, 15), func(i, c int, x *CPUSample) {
				if c == 1 && in(i, 5, 15) && i%2 == 0 {
					nr(x, 0)
				}
			})),
		},
		{
			// VCPUTime 0: unknown for that CPU, not judged.
			name: "stall, vCPU time unknown on a CPU", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(frozen(1, 5, 15), func(i, c int, x *CPUSample) {
				if c == 1 {
					x.VCPUTime = 0
				}
			})),
		},
		{
			name: "stall without vCPU time", cfg: Defaults(), env: kvm,
			series: func() MonitorSeries {
				s := monSeries(20, 2, frozen(1, 5, 15))
				s.HasVCPUTime = false
				return s
			}(),
			notes: []string{"monitor: stall not checked: the host's vCPU CPU time is unknown"},
		},

		// --- fallback and keep-last rates: Σ increase / seconds.
		{
			// CPU 0: 4 + 20 fallbacks per interval ending in 5..8: (24 + 4) /
			// 0.1 s = 280/s, four in a row.
			name: "fallback transient", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 0 {
					x.Fallback += 20 * uint64(min(max(i-4, 0), 4))
				}
			}),
		},
		{
			// intervals ending in 5..9: 280/s; 4..9 → CPU 0 120, CPU 1 20.
			name: "fallback sustained", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 0 {
					x.Fallback += 20 * uint64(min(max(i-4, 0), 5))
				}
			}),
			want: []wantMonitorFailure{{CheckFallbackRate, 280, 200, []int{0, 1},
				"fallback rate 280.0 events/s > fallback rate limit 200 events/s for 5 consecutive samples (1.5 s to 1.9 s into the test; the only sustained window); 140 events in 0.5 s, most on CPU 0 (120)"}},
		},
		{
			// 160/s passes 200/s under KVM...
			name: "fallback 160/s kvm", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 0 {
					x.Fallback += 8 * uint64(i)
				}
			}),
			absent: []string{"scaled"},
		},
		{
			// ... and fails 200/2 = 100/s under TCG x2, every interval
			// from 0.1 s to 1.9 s: one window of 19. Keep-last 40/s passes
			// 100/2 = 50.
			name: "fallback 160/s tcg x2", cfg: Defaults(), env: tcg2,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 0 {
					x.Fallback += 8 * uint64(i)
				}
			}),
			want: []wantMonitorFailure{{CheckFallbackRate, 160, 100, []int{0, 1},
				"fallback rate 160.0 events/s > fallback rate limit 200 events/s /2 (tcg) = 100 events/s for 19 consecutive samples (1.1 s to 2.9 s into the test; the only sustained window); 304 events in 1.9 s, most on CPU 0 (228)"}},
			notes: []string{"scaled for slowdown: fallback rate limit 200 events/s /2 (tcg) = 100 events/s",
				"scaled for slowdown: keep-last rate limit 100 events/s /2 (tcg) = 50 events/s"},
		},
		{
			// keep-last on CPU 1: (2 + 2 + 10) / 0.1 = 140/s from 10 on.
			name: "keep-last sustained", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 1 {
					x.KeepLast += 10 * uint64(max(i-9, 0))
				}
			}),
			want: []wantMonitorFailure{{CheckKeepLastRate, 140, 100, []int{0, 1},
				"keep-last rate 140.0 events/s > keep-last rate limit 100 events/s for 10 consecutive samples (2 s to 2.9 s into the test; the only sustained window); 140 events in 1 s, most on CPU 1 (120)"}},
		},
		{
			// a counter going backwards (the scheduler restarted) leaves
			// that interval out and ends the run: 5..7 and 9..11 at 280/s.
			name: "counter restarts", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, func(i, c int, x *CPUSample) {
				if c == 0 && i >= 5 {
					x.Fallback += 20 * uint64(min(i-4, 7))
				}
				if i >= 8 {
					x.Fallback -= 30
				}
			}),
			notes: []string{"monitor: fallback rate: 1 interval(s) not judged: a CPU's counter went backwards (the scheduler restarted?)"},
		},
		{
			name: "rates without event counters", cfg: Defaults(), env: kvm,
			series: func() MonitorSeries {
				s := monSeries(20, 2, func(i, c int, x *CPUSample) { x.Fallback, x.KeepLast = 0, 0 })
				s.HasEvents = false
				return s
			}(),
			notes: []string{"monitor: fallback rate and keep-last rate not checked: unsupported on this kernel (no sched_ext event counters; Linux 6.16 and later have them)"},
		},

		// --- plausibility.
		{
			// discarded: 3 (scx > nr), 6 (zero clock), 9 (clock backwards
			// from 8), 12 (3 CPUs), 15 (taken at the time of 14).
			name: "implausible samples", cfg: Defaults(), env: kvm,
			series: func() MonitorSeries {
				s := monSeries(20, 2, func(i, c int, x *CPUSample) {
					switch {
					case i == 3 && c == 1:
						x.ScxNrRunning = 3
					case i == 6 && c == 0:
						x.Clock = 0
					case i == 9 && c == 1:
						x.Clock = healthyCPU(7, c).Clock
					}
				})
				s.Samples[12].CPUs = append(s.Samples[12].CPUs, healthyCPU(12, 2))
				s.Samples[15].At = s.Samples[14].At
				s.Discarded = 4
				return s
			}(),
			notes: []string{"monitor: judged 15 of 20 samples taken every 100ms; 5 discarded as implausible (1 with a different number of CPUs, " +
				"1 with scx.nr_running above nr_running, 1 with a zero rq clock, 1 with an rq clock that went backwards, " +
				"1 with a time not after the previous sample's; the first at 1.3 s: CPU 1 scx.nr_running 3 > nr_running 2); " +
				"the monitor itself threw away 4 more (reads that failed or looked uninitialized); a violation must last 5 consecutive samples"},
		},
		{
			// every sample discarded: nothing judged, and said so.
			name: "all discarded", cfg: Defaults(), env: kvm,
			series: monSeries(3, 2, func(i, c int, x *CPUSample) { x.LocalDSQ = 1 << 20 }),
			notes: []string{"monitor: judged 0 of 3 samples taken every 100ms; 3 discarded as implausible (3 with nr_running or a local DSQ depth above 10000; " +
				"the first at 1 s: CPU 0 local DSQ depth 1048576); no monitor check was evaluated"},
		},
		{
			name: "empty series", cfg: Defaults(), env: kvm, series: MonitorSeries{Interval: 100 * ms, SchedExt: true},
			notes: []string{"monitor: judged 0 samples: the monitor took none (it did not run, or the test was too short); no monitor check was evaluated"},
		},
		{
			name: "only discarded by the monitor", cfg: Defaults(), env: kvm, series: MonitorSeries{Discarded: 2},
			notes: []string{"monitor: judged 0 of 0 samples; the monitor itself threw away 2 more (reads that failed or looked uninitialized); no monitor check was evaluated"},
		},
		{
			// 4 samples, all imbalanced: fewer than SustainedSamples.
			name: "too few samples", cfg: Defaults(), env: kvm, series: monSeries(4, 2, imbalanced([2]int{0, 4})),
			notes: []string{"monitor: judged 4 of 4 samples taken every 100ms; fewer than the 5 consecutive samples a violation must last: no monitor check can fail"},
		},
		{
			name: "one sample", cfg: monitorOnly(func(c *Config) { c.SustainedSamples = Val(1) }), env: kvm, series: monSeries(1, 2, nil),
			notes: []string{"monitor: stall not checked: fewer than two judged samples", "monitor: fallback rate not checked: fewer than two judged samples"},
		},
		{
			// the monitor's checks off: nothing judged, nothing said.
			name: "monitor checks off", env: kvm, series: monSeries(20, 2, both(imbalanced([2]int{0, 20}), frozen(0, 1, 20))),
			cfg: Merge(Defaults(), Config{MaxImbalanceRatio: Disabled, MaxLocalDSQDepth: Disabled, FailOnStall: Off,
				MaxFallbackRate: Disabled, MaxKeepLastRate: Disabled}),
			absent: []string{"monitor"},
		},
		{
			// several checks fail: one failure each, in table order.
			name: "several checks", cfg: Defaults(), env: kvm,
			series: monSeries(20, 2, both(imbalanced([2]int{10, 15}), frozen(1, 2, 8))),
			want: []wantMonitorFailure{
				{CheckImbalanceRatio, 5, 4, []int{0, 1},
					"imbalance ratio 5.0 > imbalance ratio limit 4 for 5 consecutive samples (2 s to 2.4 s into the test; the only sustained window); worst at 2 s: CPU 0 nr_running 10, CPU 1 nr_running 2"},
				{CheckStall, 6, 5, []int{1},
					"CPU 1 stalled: runnable (nr_running up to 2) but its rq clock stayed at 1.100000 s while its vCPU ran 540ms, for 6 consecutive samples (1.2 s to 1.7 s into the test; the only sustained window)"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckMonitor(tc.cfg, tc.series, tc.env)
			if r.Passed != (len(tc.want) == 0) {
				t.Errorf("Passed = %v with failures %+v", r.Passed, r.Failures)
			}
			if len(r.Failures) != len(tc.want) {
				t.Fatalf("got %d failures, want %d:\n%s", len(r.Failures), len(tc.want), r)
			}
			for i, w := range tc.want {
				f := r.Failures[i]
				if f.Check != w.check || !approx(f.Value, w.value) || !approx(f.Limit, w.limit) || !slices.Equal(f.CPUs, w.cpus) ||
					f.Worker != -1 || f.Cgroup != "" {
					t.Errorf("failure %d = {%s value %v limit %v cpus %v worker %d cgroup %q}, want {%s value %v limit %v cpus %v worker -1}",
						i, f.Check, f.Value, f.Limit, f.CPUs, f.Worker, f.Cgroup, w.check, w.value, w.limit, w.cpus)
				}
				if f.Message != w.msg {
					t.Errorf("failure %d message\n got %q\nwant %q", i, f.Message, w.msg)
				}
				if len(f.Window) == 0 {
					t.Errorf("failure %d has no window", i)
				}
			}
			for _, n := range tc.notes {
				if !slices.Contains(r.Notes, n) {
					t.Errorf("no note\n%q\nin\n%q", n, r.Notes)
				}
			}
			for _, a := range tc.absent {
				if containsSub(r.Notes, a) {
					t.Errorf("a note contains %q: %q", a, r.Notes)
				}
			}
			if r.Cgroups != nil {
				t.Errorf("cgroups %+v", r.Cgroups)
			}
		})
	}
}

// The notes come in a fixed order: what was judged, what was not checked
// and why, the scaled limits, then the checks' own.
func TestCheckMonitorNotes(t *testing.T) {
	s := monSeries(20, 2, nil)
	s.SchedExt, s.HasVCPUTime = false, false
	r := CheckMonitor(Defaults(), s, Env{Scale: 2, Accel: "tcg"})
	want := []string{
		"monitor: judged 20 of 20 samples taken every 100ms; a violation must last 5 consecutive samples",
		"monitor: no sched_ext scheduler attached (EEVDF): the monitor's sched_ext checks do not apply (imbalance ratio, local DSQ depth, fallback rate and keep-last rate not checked)",
		"monitor: stall not checked: the host's vCPU CPU time is unknown",
	}
	if !r.Passed || !reflect.DeepEqual(r.Notes, want) {
		t.Errorf("passed %v, notes\n%q\nwant\n%q", r.Passed, r.Notes, want)
	}
	// no scaled-limit notes for checks that did not run; with sched_ext
	// they come after the summary.
	s.SchedExt = true
	r = CheckMonitor(Defaults(), s, Env{Scale: 2, Accel: "tcg"})
	want = []string{
		"monitor: judged 20 of 20 samples taken every 100ms; a violation must last 5 consecutive samples",
		"monitor: stall not checked: the host's vCPU CPU time is unknown",
		"scaled for slowdown: fallback rate limit 200 events/s /2 (tcg) = 100 events/s",
		"scaled for slowdown: keep-last rate limit 100 events/s /2 (tcg) = 50 events/s",
	}
	if !reflect.DeepEqual(r.Notes, want) {
		t.Errorf("notes\n%q\nwant\n%q", r.Notes, want)
	}
}

// The window is the failing run with a judged sample either side, copied.
func TestMonitorWindow(t *testing.T) {
	ats := func(w []MonitorSample) []float64 {
		var out []float64
		for _, s := range w {
			out = append(out, s.At.Seconds())
		}
		return out
	}
	for _, tc := range []struct {
		name string
		s    MonitorSeries
		want []float64 // the samples' times, s
	}{
		{"middle", monSeries(20, 2, imbalanced([2]int{5, 10})), []float64{1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2}},
		// the run starts the series: nothing before it.
		{"start", monSeries(20, 2, imbalanced([2]int{0, 5})), []float64{1, 1.1, 1.2, 1.3, 1.4, 1.5}},
		// and ends it: nothing after.
		{"end", monSeries(10, 2, imbalanced([2]int{5, 10})), []float64{1.4, 1.5, 1.6, 1.7, 1.8, 1.9}},
		// a discarded sample (2.0 s) is not evidence: the next judged one
		// (2.1 s) stands after the run.
		{"discarded after", monSeries(20, 2, both(imbalanced([2]int{5, 10}), func(i, c int, x *CPUSample) {
			if i == 10 {
				x.Clock = 0
			}
		})), []float64{1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.1}},
		// a long run keeps its first 30 samples, and the one before.
		{"long", monSeries(60, 1, frozen(0, 10, 60)), func() []float64 {
			var w []float64
			for i := 9; i < 40; i++ {
				w = append(w, 1+float64(i)/10)
			}
			return w
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckMonitor(Defaults(), tc.s, Env{})
			if len(r.Failures) != 1 {
				t.Fatalf("failures: %+v", r.Failures)
			}
			w := r.Failures[0].Window
			got := ats(w)
			if len(got) != len(tc.want) {
				t.Fatalf("window at %v, want %v", got, tc.want)
			}
			for i := range got {
				if !approx(got[i], tc.want[i]) {
					t.Fatalf("window at %v, want %v", got, tc.want)
				}
			}
			// a copy: changing the series leaves the evidence alone.
			before := w[1].CPUs[0]
			for i := range tc.s.Samples {
				tc.s.Samples[i].CPUs[0].NrRunning = 999
			}
			if w[1].CPUs[0] != before {
				t.Error("the window aliases the series")
			}
		})
	}
}

func TestFormatWindow(t *testing.T) {
	cpu := func(n, dsq uint32, clk, vcpu uint64) CPUSample {
		return CPUSample{NrRunning: n, ScxNrRunning: n, LocalDSQ: dsq, Clock: clk, VCPUTime: vcpu}
	}
	w := []MonitorSample{
		{At: 1400 * ms, CPUs: []CPUSample{cpu(2, 1, 100, 1e8), cpu(2, 1, 200, 1e8)}},
		{At: 1500 * ms, CPUs: []CPUSample{cpu(2, 1, 150, 19e7), cpu(12, 61, 200, 19e7)}},
		{At: 1600 * ms, CPUs: []CPUSample{cpu(3, 0, 140, 0), cpu(2, 1, 200, 28e7)}},
	}
	for _, tc := range []struct {
		check string
		cpus  []int
		want  string
	}{
		{CheckStall, nil, "" +
			"nr_running/local DSQ/rq clock (+ advanced, = unchanged, - went back)/vCPU ms ran, per CPU:\n" +
			"time   CPU 0     CPU 1\n" +
			"1.4 s  2/1       2/1\n" +
			"1.5 s  2/1/+/90  12/61/=/90\n" +
			"1.6 s  3/0/-/?   2/1/=/90"},
		{CheckLocalDSQDepth, []int{1, 5}, "" +
			"nr_running/local DSQ/rq clock (+ advanced, = unchanged, - went back), per CPU:\n" +
			"time   CPU 1    CPU 5\n" +
			"1.4 s  2/1      -\n" +
			"1.5 s  12/61/=  -\n" +
			"1.6 s  2/1/=    -"},
	} {
		if got := FormatWindow(tc.check, w, tc.cpus); got != tc.want {
			t.Errorf("FormatWindow(%s) =\n%s\nwant\n%s", tc.check, got, tc.want)
		}
	}
	if got := FormatWindow(CheckStall, nil, nil); got != "" {
		t.Errorf("empty window: %q", got)
	}
	// rates show the counter's increase.
	w[0].CPUs[0].Fallback, w[1].CPUs[0].Fallback = 7, 19
	if got := FormatWindow(CheckFallbackRate, w[:2], []int{0}); !strings.HasSuffix(got, "/fallback events, per CPU:\ntime   CPU 0\n1.4 s  2/1\n1.5 s  2/1/+/12") {
		t.Errorf("fallback window:\n%s", got)
	}
}

// Result.String prints a monitor failure's window under it; a guest with
// many CPUs shows only the failure's.
func TestMonitorResultString(t *testing.T) {
	r := CheckMonitor(Defaults(), monSeries(20, 2, frozen(1, 5, 10)), Env{})
	got := r.String()
	for _, want := range []string{
		"FAIL: 1 check(s) failed\n  [stall] CPU 1 stalled: ",
		"the only sustained window)\n      nr_running/local DSQ/rq clock (+ advanced, = unchanged, - went back)/vCPU ms ran, per CPU:\n" +
			"      time   CPU 0     CPU 1\n" +
			"      1.4 s  2/1       2/1\n" +
			"      1.5 s  2/1/+/90  2/1/=/90\n",
		"\n      2 s    2/1/+/90  2/1/+/90\n  note: monitor: judged 20 of 20 samples",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("String() lacks %q:\n%s", want, got)
		}
	}
	r = CheckMonitor(Defaults(), monSeries(20, 12, frozen(9, 5, 10)), Env{})
	if tb := r.Failures[0].WindowTable(); !strings.Contains(tb, "time   CPU 9\n") || strings.Contains(tb, "CPU 0") {
		t.Errorf("12 CPUs: table\n%s", tb)
	}
	// more than 8 CPUs of a failure: the first 8, and how many more.
	f := Failure{Check: CheckStall, CPUs: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Window: r.Failures[0].Window}
	if tb := f.WindowTable(); !strings.Contains(tb, "CPU 7\n") || strings.Contains(tb, "CPU 8") || !strings.HasSuffix(tb, "\n(3 more CPU(s) not shown)") {
		t.Errorf("11 CPUs of 12: table\n%s", tb)
	}
	if (Failure{}).WindowTable() != "" {
		t.Error("a failure without a window has a table")
	}
}

func TestMonitorSeriesJSON(t *testing.T) {
	in := monSeries(3, 2, nil)
	in.Samples[1].CPUs[1] = CPUSample{math.MaxUint32, 7, math.MaxUint32, math.MaxUint64, 1<<53 + 1, 3, 4}
	in.HasEvents, in.Discarded = false, 2
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"interval":100000000,"samples":[{"at":1000000000,"cpus":[[2,2,1,1000000000,90000000,0,0],[2,2,1,1000000001,90000000,0,0]]},`
	if !strings.HasPrefix(string(raw), want) || !strings.Contains(string(raw), `[4294967295,7,4294967295,18446744073709551615,9007199254740993,3,4]`) ||
		!strings.HasSuffix(string(raw), `"sched_ext":true,"has_scx":true,"has_events":false,"has_vcpu_time":true,"discarded":2}`) {
		t.Errorf("JSON form:\n%s", raw)
	}
	var out MonitorSeries
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	for _, bad := range []string{`[1,2,3]`, `[1,2,3,4,5,6,7,8]`, `[4294967296,0,0,0,0,0,0]`, `[-1,0,0,0,0,0,0]`, `{"nr":1}`, `[1.5,0,0,0,0,0,0]`} {
		var c CPUSample
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s decoded to %+v", bad, c)
		}
	}
	if len(CPUSampleColumns()) != len(CPUSample{}.values()) {
		t.Error("CPUSampleColumns does not name every number")
	}
}

// A failing monitor result round-trips through JSON with its windows, and
// a failure's existing fields keep their names.
func TestMonitorResultJSON(t *testing.T) {
	r := CheckMonitor(Defaults(), monSeries(20, 2, both(imbalanced([2]int{10, 15}), frozen(1, 2, 8))), Env{Scale: 2, Accel: "tcg"})
	if len(r.Failures) != 2 {
		t.Fatalf("failures %+v", r.Failures)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip changed the result:\n got %+v\nwant %+v", back, r)
	}
	fb, _ := json.Marshal(r.Failures[1])
	for _, want := range []string{`"check":"stall"`, `"message":"CPU 1 stalled`, `"value":6`, `"limit":5`, `"worker":-1`, `"cpus":[1]`, `"window":[{"at":1100000000,"cpus":[[2,2,1,`} {
		if !strings.Contains(string(fb), want) {
			t.Errorf("failure JSON lacks %s: %s", want, fb)
		}
	}
	if strings.Contains(string(fb), `"cgroup"`) {
		t.Errorf("monitor failure has a cgroup: %s", fb)
	}
	// other failures have no window.
	if b, _ := json.Marshal(Fail("x").Failures[0]); strings.Contains(string(b), "window") {
		t.Errorf("custom failure: %s", b)
	}
}

// Check leaves the monitor's checks to CheckMonitor, and the merged
// results of both keep both.
func TestCheckAndCheckMonitor(t *testing.T) {
	c := Check(Defaults(), cg0(healthy(), healthy()), Env{})
	m := CheckMonitor(Defaults(), monSeries(20, 2, frozen(0, 3, 9)), Env{})
	if !c.Passed || m.Passed || containsSub(c.Notes, "monitor") {
		t.Fatalf("Check %v %q, CheckMonitor %v", c.Passed, c.Notes, m.Passed)
	}
	r := c.Merge(m)
	if r.Passed || len(r.Failures) != 1 || r.Failures[0].Check != CheckStall || len(r.Cgroups) != 1 {
		t.Errorf("merged: %+v", r)
	}
}

// SustainedSamples as a count: unset or disabled is 1 (every violating
// sample fails), a value its whole part.
func TestSustained(t *testing.T) {
	for _, tc := range []struct {
		th   Threshold
		want int
	}{{Threshold{}, 1}, {Disabled, 1}, {Val(5), 5}, {Val(1), 1}, {Val(2.7), 2}, {Val(0), 1}, {Val(1e12), 1e9}} {
		if got := sustained(Config{SustainedSamples: tc.th}); got != tc.want {
			t.Errorf("sustained(%v) = %d, want %d", tc.th, got, tc.want)
		}
	}
	// null leaves a CPUSample alone, as encoding/json does for other types.
	c := CPUSample{NrRunning: 3}
	if err := json.Unmarshal([]byte("null"), &c); err != nil || c.NrRunning != 3 {
		t.Errorf("null: %+v, %v", c, err)
	}
}

// Samples taken while the test confined its workers to some CPUs are not
// judged for imbalance: the imbalance is the test's own doing.
func TestCheckMonitorConfined(t *testing.T) {
	var samples []MonitorSample
	for i := 0; i < 10; i++ {
		samples = append(samples, MonitorSample{At: time.Duration(i) * 100 * time.Millisecond, Confined: i >= 3,
			CPUs: []CPUSample{{NrRunning: 9, ScxNrRunning: 9, Clock: uint64(i+1) * 1e8}, {NrRunning: 0, Clock: uint64(i+1) * 1e8}}})
	}
	s := MonitorSeries{Interval: 100 * time.Millisecond, SchedExt: true, HasScx: true, Samples: samples}
	r := CheckMonitor(Defaults(), s, Env{})
	if !r.Passed {
		t.Fatalf("imbalance judged while confined: %s", r)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "imbalance ratio not judged in 7 of 10 samples") {
		t.Errorf("notes: %q", r.Notes)
	}
	for i := range s.Samples {
		s.Samples[i].Confined = false
	}
	if r := CheckMonitor(Defaults(), s, Env{}); r.Passed {
		t.Fatal("a sustained imbalance passed")
	}
}
