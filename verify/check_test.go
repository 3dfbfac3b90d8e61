package verify

import (
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

const (
	ms = time.Millisecond
	us = time.Microsecond
	s  = time.Second
)

// wk is a worker that ran wall, cpu of it (OffCPU = wall − cpu), and did
// units work units in iters iterations.
func wk(units, iters uint64, wall, cpu time.Duration) workload.Report {
	return workload.Report{WorkUnits: units, Iterations: iters, WallTime: wall, CPUTime: cpu, OffCPU: wall - cpu}
}

// healthy is a worker no enabled check fails on.
func healthy() workload.Report { return wk(1000, 100, 2*s, 2*s) }

func with(w workload.Report, f func(*workload.Report)) workload.Report { f(&w); return w }

func cg0(ws ...workload.Report) []CgroupReport { return []CgroupReport{{Name: "cg_0", Workers: ws}} }

// only returns a config with every check off except what set turns on.
func only(set func(*Config)) Config {
	c := Config{NotStarved: Off, Isolation: Off, MaxGapMs: Disabled, MaxSpreadPct: Disabled}
	set(&c)
	return c
}

type wantFailure struct {
	check  string
	worker int
	value  float64
	limit  float64
	msg    string // the whole message
}

func TestCheck(t *testing.T) {
	kvm := Env{Scale: 1, Accel: "kvm"}
	tcg := func(f float64) Env { return Env{Scale: f, Accel: "tcg"} }
	notStarved := func(c *Config) { c.NotStarved = On }
	spread := func(v float64) func(*Config) {
		return func(c *Config) { c.NotStarved, c.MaxSpreadPct = On, Val(v) }
	}
	gap := func(v float64) func(*Config) { return func(c *Config) { c.NotStarved, c.MaxGapMs = On, Val(v) } }
	gapAt := func(g, at time.Duration, cpu int) workload.Report {
		return with(healthy(), func(r *workload.Report) { r.MaxGap, r.MaxGapAt, r.MaxGapCPU = g, at, cpu })
	}
	cpus := func(c ...int) workload.Report { return with(healthy(), func(r *workload.Report) { r.CPUs = c }) }
	wake := func(ds ...time.Duration) workload.Report {
		return with(healthy(), func(r *workload.Report) { r.WakeLatencies = ds; r.WakeCount = uint64(len(ds)) })
	}
	usRange := func(lo, hi int) []time.Duration {
		var d []time.Duration
		for i := lo; i <= hi; i++ {
			d = append(d, time.Duration(i)*us)
		}
		return d
	}
	migr := func(m, it uint64) workload.Report {
		return with(healthy(), func(r *workload.Report) { r.Migrations, r.Iterations = m, it })
	}

	for _, tc := range []struct {
		name    string
		cfg     Config
		env     Env
		cgroups []CgroupReport
		want    []wantFailure
		notes   []string // substrings each found in some note
	}{
		// --- starvation: a worker with WorkUnits == 0 fails.
		{
			name: "starvation", cfg: only(notStarved), env: kvm,
			cgroups: cg0(healthy(), wk(0, 0, 2*s, 0)),
			want: []wantFailure{{"starvation", 1, 0, 0,
				"cgroup cg_0: worker 1 starved: 0 work units in 2.000 s wall, 0.000 s CPU"}},
		},
		{
			name: "starvation of worker 0 with an error", cfg: only(notStarved), env: kvm,
			cgroups: cg0(with(wk(0, 0, s, 0), func(r *workload.Report) { r.Err = "exec failed" }), healthy()),
			want: []wantFailure{{"starvation", 0, 0, 0,
				"cgroup cg_0: worker 0 starved: 0 work units in 1.000 s wall, 0.000 s CPU (worker error: exec failed)"}},
			notes: []string{"cgroup cg_0: worker 0 reported an error: exec failed"},
		},
		{
			name: "starvation off", cfg: Merge(Defaults(), Config{NotStarved: Off}), env: kvm,
			cgroups: cg0(healthy(), wk(0, 0, 2*s, 0)),
		},

		// --- spread: off_i = 100*OffCPU/WallTime; spread = max - min.
		{
			// off: w0 100*0.4/2 = 20%, w1 100*1.2/2 = 60%, w2 100*0.6/2 = 30%;
			// spread = 60 - 20 = 40 > 15.
			name: "spread", cfg: only(spread(15)), env: kvm,
			cgroups: cg0(wk(10, 1, 2*s, 1600*ms), wk(10, 1, 2*s, 800*ms), wk(10, 1, 2*s, 1400*ms)),
			want: []wantFailure{{"spread", -1, 40, 15,
				"cgroup cg_0: spread 40.0% > spread limit 15% (worker 1 off-CPU 60.0%, worker 0 20.0%)"}},
		},
		{
			// spread is scaled under TCG (the host preempting a vCPU
			// skews shares): 40 > 10*3 fails, 40 <= 15*3 passes.
			name: "spread scaled", cfg: only(spread(10)), env: tcg(3),
			cgroups: cg0(wk(10, 1, 2*s, 1600*ms), wk(10, 1, 2*s, 800*ms)),
			want: []wantFailure{{"spread", -1, 40, 30,
				"cgroup cg_0: spread 40.0% > spread limit 10% x3 (tcg) = 30% (worker 1 off-CPU 60.0%, worker 0 20.0%)"}},
		},
		{
			name: "spread scaled, within", cfg: only(spread(15)), env: tcg(3),
			cgroups: cg0(wk(10, 1, 2*s, 1600*ms), wk(10, 1, 2*s, 800*ms)),
		},
		{
			// off 100*0.4/2 = 20%, 100*0.7/2 = 35%: spread 15 = limit, passes.
			name: "spread at the limit", cfg: only(spread(15)), env: kvm,
			cgroups: cg0(wk(10, 1, 2*s, 1600*ms), wk(10, 1, 2*s, 1300*ms)),
		},
		{
			// one worker: no spread even at 90% off-CPU.
			name: "spread single worker", cfg: only(spread(15)), env: kvm,
			cgroups: cg0(wk(10, 1, 10*s, s)),
		},
		{
			// w1 has no wall time: left out; w0 and w2 (0% and 50%): 50 > 15.
			name: "spread without wall time", cfg: only(spread(15)), env: kvm,
			cgroups: cg0(wk(10, 1, s, s), wk(10, 1, 0, 0), wk(10, 1, s, 500*ms)),
			want: []wantFailure{{"spread", -1, 50, 15,
				"cgroup cg_0: spread 50.0% > spread limit 15% (worker 2 off-CPU 50.0%, worker 0 0.0%)"}},
			notes: []string{"cgroup cg_0: spread: 1 worker(s) without wall time left out"},
		},
		{
			name: "spread with one worker with wall time", cfg: only(spread(15)), env: kvm,
			cgroups: cg0(wk(10, 1, s, s), wk(10, 1, 0, 0)),
			notes:   []string{"cgroup cg_0: spread not checked: fewer than two workers with wall time"},
		},
		{
			// NotStarved on but MaxSpreadPct disabled: spread is off.
			name: "spread disabled", cfg: Merge(Defaults(), Config{MaxSpreadPct: Disabled}), env: kvm,
			cgroups: cg0(wk(10, 1, 2*s, 1600*ms), wk(10, 1, 2*s, 100*ms)),
		},

		// --- gap: longest MaxGap (ms) of the cgroup > MaxGapMs x factor.
		{
			// gaps 500, 2500, 2100 ms; limit 2000: worker 1 (2500) fails; 2 over.
			name: "gap", cfg: only(gap(2000)), env: kvm,
			cgroups: cg0(gapAt(500*ms, s, 0), gapAt(2500*ms, 1200*ms, 3), gapAt(2100*ms, 300*ms, 1)),
			want: []wantFailure{{"gap", 1, 2500, 2000,
				"cgroup cg_0: worker 1 scheduling gap 2500.0 ms > gap limit 2000 ms (gap ended 1.200 s into the run on CPU 3; 2 of 3 worker(s) over the limit)"}},
		},
		{
			// x1.1: limit 2000*1.1 = 2200; 2500 > 2200 (1 of 3 over), 2100 passes.
			name: "gap scaled x1.1", cfg: only(gap(2000)), env: tcg(1.1),
			cgroups: cg0(gapAt(500*ms, s, 0), gapAt(2500*ms, 1200*ms, 3), gapAt(2100*ms, 300*ms, 1)),
			want: []wantFailure{{"gap", 1, 2500, 2200,
				"cgroup cg_0: worker 1 scheduling gap 2500.0 ms > gap limit 2000 ms x1.1 (tcg) = 2200 ms (gap ended 1.200 s into the run on CPU 3; 1 of 3 worker(s) over the limit)"}},
			notes: []string{"scaled for slowdown: gap limit 2000 ms x1.1 (tcg) = 2200 ms"},
		},
		{
			// x3: limit 6000; 2500 passes.
			name: "gap scaled x3 passes", cfg: only(gap(2000)), env: tcg(3),
			cgroups: cg0(gapAt(500*ms, s, 0), gapAt(2500*ms, 1200*ms, 3)),
			notes:   []string{"scaled for slowdown: gap limit 2000 ms x3 (tcg) = 6000 ms"},
		},
		{
			// worker 0 is the worst: Worker 0.
			name: "gap worker 0", cfg: only(gap(100)), env: kvm,
			cgroups: cg0(gapAt(150500*us, 2*s, 7)),
			want: []wantFailure{{"gap", 0, 150.5, 100,
				"cgroup cg_0: worker 0 scheduling gap 150.5 ms > gap limit 100 ms (gap ended 2.000 s into the run on CPU 7; 1 of 1 worker(s) over the limit)"}},
		},
		{
			name: "gap disabled", cfg: Merge(Defaults(), Config{MaxGapMs: Disabled}), env: kvm,
			cgroups: cg0(gapAt(9*s, s, 0)),
		},

		// --- isolation: Report.CPUs \ cgroup CPUs.
		{
			// cpuset 0-3; worker 1 seen on 2,4,5,7: escaped 4,5,7 (3 CPUs).
			name: "isolation", cfg: only(func(c *Config) { c.Isolation = On }), env: kvm,
			cgroups: []CgroupReport{{Name: "cg_1", CPUs: []int{0, 1, 2, 3}, Workers: []workload.Report{cpus(0, 1), cpus(2, 4, 5, 7)}}},
			want: []wantFailure{{"isolation", 1, 3, 0,
				"cgroup cg_1: worker 1 ran on CPU(s) 4-5,7 outside its cpuset 0-3"}},
		},
		{
			name: "isolation without cpuset", cfg: only(func(c *Config) { c.Isolation = On }), env: kvm,
			cgroups: cg0(cpus(0, 9, 100)),
		},
		{
			name: "isolation off", cfg: only(func(c *Config) { c.Isolation = Off }), env: kvm,
			cgroups: []CgroupReport{{Name: "cg_1", CPUs: []int{0}, Workers: []workload.Report{cpus(5)}}},
		},

		// --- throughput CV: rate_i = WorkUnits/CPU-s; CV = pstddev/mean.
		{
			// rates 100/1 = 100, 150/0.5 = 300; mean 200; stddev
			// sqrt((100^2+100^2)/2) = 100; CV = 0.5 > 0.3.
			name: "throughput cv", cfg: only(func(c *Config) { c.MaxThroughputCV = Val(0.3) }), env: tcg(4),
			cgroups: cg0(wk(100, 1, s, s), wk(150, 1, s, 500*ms)),
			want: []wantFailure{{"throughput_cv", -1, 0.5, 0.3,
				"cgroup cg_0: throughput CV 0.500 > throughput CV limit 0.3 (work units per CPU-second: mean 200.0, min 100.0 (worker 0), max 300.0 (worker 1))"}},
		},
		{
			// same numbers, CV 0.5 = limit: passes.
			name: "throughput cv at the limit", cfg: only(func(c *Config) { c.MaxThroughputCV = Val(0.5) }), env: kvm,
			cgroups: cg0(wk(100, 1, s, s), wk(150, 1, s, 500*ms)),
		},
		{
			name: "throughput cv single worker", cfg: only(func(c *Config) { c.MaxThroughputCV = Val(0) }), env: kvm,
			cgroups: cg0(wk(100, 1, s, s)),
		},
		{
			// worker 1 has no CPU time: one rate left, not checked.
			name: "throughput cv zero cpu time", cfg: only(func(c *Config) { c.MaxThroughputCV = Val(0) }), env: kvm,
			cgroups: cg0(wk(100, 1, s, s), wk(0, 0, s, 0)),
			notes: []string{"cgroup cg_0: throughput CV: 1 worker(s) without CPU time left out",
				"cgroup cg_0: throughput CV not checked: fewer than two workers with CPU time"},
		},
		{
			// rates 0 and 0: mean 0, CV defined as 0; 0 <= 0 passes.
			name: "throughput cv zero mean", cfg: only(func(c *Config) { c.MaxThroughputCV = Val(0) }), env: kvm,
			cgroups: cg0(wk(0, 1, s, s), wk(0, 1, s, s)),
		},

		// --- work rate: WorkUnits / CPU-s < MinWorkRate / factor.
		{
			// w0 1000/2 = 500, w1 100/0.5 = 200 < 300.
			name: "work rate", cfg: only(func(c *Config) { c.MinWorkRate = Val(300) }), env: kvm,
			cgroups: cg0(wk(1000, 1, 2*s, 2*s), wk(100, 1, s, 500*ms)),
			want: []wantFailure{{"work_rate", 1, 200, 300,
				"cgroup cg_0: worker 1 work rate 200.0 units/CPU-s < work rate limit 300 units/CPU-s (100 units in 0.500 s CPU)"}},
		},
		{
			// x4: limit 300/4 = 75; 500 and 200 pass.
			name: "work rate scaled x4", cfg: only(func(c *Config) { c.MinWorkRate = Val(300) }), env: tcg(4),
			cgroups: cg0(wk(1000, 1, 2*s, 2*s), wk(100, 1, s, 500*ms)),
			notes:   []string{"scaled for slowdown: work rate limit 300 units/CPU-s /4 (tcg) = 75 units/CPU-s"},
		},
		{
			// x1.2: limit 300/1.2 = 250; 200 < 250 fails.
			name: "work rate scaled x1.2", cfg: only(func(c *Config) { c.MinWorkRate = Val(300) }), env: tcg(1.2),
			cgroups: cg0(wk(100, 1, s, 500*ms)),
			want: []wantFailure{{"work_rate", 0, 200, 250,
				"cgroup cg_0: worker 0 work rate 200.0 units/CPU-s < work rate limit 300 units/CPU-s /1.2 (tcg) = 250 units/CPU-s (100 units in 0.500 s CPU)"}},
		},
		{
			name: "work rate zero cpu time", cfg: only(func(c *Config) { c.MinWorkRate = Val(300) }), env: kvm,
			cgroups: cg0(wk(0, 0, s, 0)),
			notes:   []string{"cgroup cg_0: work rate of worker 0 not checked: no CPU time"},
		},

		// --- wake p99: pooled, nearest rank ceil(0.99 n).
		{
			// w0 1..50 us, w1 51..100 us: n = 100, rank 99 -> 99 us = 99000 ns > 50000.
			name: "wake p99", cfg: only(func(c *Config) { c.MaxP99WakeLatencyNs = Val(50000) }), env: kvm,
			cgroups: cg0(wake(usRange(1, 50)...), wake(usRange(51, 100)...)),
			want: []wantFailure{{"wake_p99", -1, 99000, 50000,
				"cgroup cg_0: p99 wake latency 99µs (99000 ns) > wake p99 limit 50000 ns (100 samples from 2 worker(s))"}},
		},
		{
			// x2: limit 100000 ns; 99000 passes.
			name: "wake p99 scaled x2", cfg: only(func(c *Config) { c.MaxP99WakeLatencyNs = Val(50000) }), env: tcg(2),
			cgroups: cg0(wake(usRange(1, 50)...), wake(usRange(51, 100)...)),
			notes:   []string{"scaled for slowdown: wake p99 limit 50000 ns x2 (tcg) = 100000 ns"},
		},
		{
			// 1..9 ms and 100 ms: n = 10, rank ceil(9.9) = 10 -> 100 ms; limit 10 ms x1.5 = 15 ms.
			name: "wake p99 outlier", cfg: only(func(c *Config) { c.MaxP99WakeLatencyNs = Val(1e7) }), env: tcg(1.5),
			cgroups: cg0(wake(1*ms, 2*ms, 3*ms, 4*ms, 5*ms, 6*ms, 7*ms, 8*ms, 9*ms, 100*ms)),
			want: []wantFailure{{"wake_p99", -1, 1e8, 1.5e7,
				"cgroup cg_0: p99 wake latency 100ms (100000000 ns) > wake p99 limit 10000000 ns x1.5 (tcg) = 15000000 ns (10 samples from 1 worker(s))"}},
		},
		{
			name: "wake p99 no samples", cfg: only(func(c *Config) { c.MaxP99WakeLatencyNs = Val(1) }), env: kvm,
			cgroups: cg0(healthy(), healthy()),
			notes:   []string{"cgroup cg_0: wake p99 not checked: no wake latency samples"},
		},

		// --- wake CV: pooled pstddev / mean.
		{
			// 1,1,1,5 ms: mean 2 ms; squared deviations 1+1+1+9 = 12 ms^2;
			// /4 = 3; stddev sqrt(3) = 1.7320508 ms; CV = 0.8660254 > 0.5.
			name: "wake cv", cfg: only(func(c *Config) { c.MaxWakeLatencyCV = Val(0.5) }), env: tcg(3),
			cgroups: cg0(wake(ms, ms), wake(ms, 5*ms)),
			want: []wantFailure{{"wake_cv", -1, 0.8660254037844386, 0.5,
				"cgroup cg_0: wake latency CV 0.866 > wake latency CV limit 0.5 (4 samples, mean 2ms, stddev 1.732ms)"}},
		},
		{
			name: "wake cv passes", cfg: only(func(c *Config) { c.MaxWakeLatencyCV = Val(1) }), env: kvm,
			cgroups: cg0(wake(ms, ms), wake(ms, 5*ms)),
		},
		{
			name: "wake cv no samples", cfg: only(func(c *Config) { c.MaxWakeLatencyCV = Val(0) }), env: kvm,
			cgroups: cg0(healthy()),
			notes:   []string{"cgroup cg_0: wake latency CV not checked: no wake latency samples"},
		},

		// --- iteration rate: Iterations / wall-s < MinIterationRate / factor.
		{
			// w0 100/2 = 50/s, w1 10/4 = 2.5/s < 10.
			name: "iteration rate", cfg: only(func(c *Config) { c.MinIterationRate = Val(10) }), env: kvm,
			cgroups: cg0(wk(1, 100, 2*s, s), wk(1, 10, 4*s, s)),
			want: []wantFailure{{"iteration_rate", 1, 2.5, 10,
				"cgroup cg_0: worker 1 iteration rate 2.5 iterations/s < iteration rate limit 10 iterations/s (10 iterations in 4.000 s wall)"}},
		},
		{
			// x4: limit 10/4 = 2.5; 2.5 is not below it.
			name: "iteration rate scaled x4", cfg: only(func(c *Config) { c.MinIterationRate = Val(10) }), env: tcg(4),
			cgroups: cg0(wk(1, 100, 2*s, s), wk(1, 10, 4*s, s)),
		},
		{
			name: "iteration rate zero wall time", cfg: only(func(c *Config) { c.MinIterationRate = Val(10) }), env: kvm,
			cgroups: cg0(wk(1, 0, 0, 0)),
			notes:   []string{"cgroup cg_0: iteration rate of worker 0 not checked: no wall time"},
		},

		// --- migration ratio: sum(Migrations) / sum(Iterations).
		{
			// (10 + 20) / (40 + 10) = 0.6 > 0.5; not scaled.
			name: "migration ratio", cfg: only(func(c *Config) { c.MaxMigrationRatio = Val(0.5) }), env: tcg(5),
			cgroups: cg0(migr(10, 40), migr(20, 10)),
			want: []wantFailure{{"migration_ratio", -1, 0.6, 0.5,
				"cgroup cg_0: migration ratio 0.600 > migration ratio limit 0.5 migrations/iteration (30 migrations / 50 iterations)"}},
		},
		{
			// 5 / 10 = 0.5: at the limit, passes.
			name: "migration ratio at the limit", cfg: only(func(c *Config) { c.MaxMigrationRatio = Val(0.5) }), env: kvm,
			cgroups: cg0(migr(5, 10)),
		},
		{
			name: "migration ratio no iterations", cfg: only(func(c *Config) { c.MaxMigrationRatio = Val(0.5) }), env: kvm,
			cgroups: cg0(migr(5, 0)),
			notes:   []string{"cgroup cg_0: migration ratio not checked: no iterations"},
		},

		// --- everything off / monitor-only thresholds: nothing fails.
		{
			name: "all disabled",
			cfg: Merge(allLimits(), Config{NotStarved: Off, Isolation: Off, MaxThroughputCV: Disabled, MinWorkRate: Disabled,
				MaxP99WakeLatencyNs: Disabled, MaxWakeLatencyCV: Disabled, MinIterationRate: Disabled, MaxMigrationRatio: Disabled}),
			env: tcg(3),
			cgroups: []CgroupReport{{Name: "bad", CPUs: []int{0}, Workers: []workload.Report{
				wk(0, 0, 0, 0), with(wk(1, 1, s, 0), func(r *workload.Report) {
					r.MaxGap, r.CPUs, r.Migrations, r.WakeLatencies = 10*s, []int{5}, 100, []time.Duration{s, time.Hour}
				})}}},
		},
		{
			name: "monitor thresholds ignored",
			cfg: Config{MaxImbalanceRatio: Val(0), MaxLocalDSQDepth: Val(0), FailOnStall: On, SustainedSamples: Val(1),
				MaxFallbackRate: Val(0), MaxKeepLastRate: Val(0)},
			env: kvm, cgroups: cg0(wk(0, 0, 0, 0)),
		},
		{
			name: "no workers", cfg: Defaults(), env: kvm,
			cgroups: []CgroupReport{{Name: "empty"}},
			notes:   []string{"cgroup empty: no workers"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.cfg, tc.cgroups, tc.env)
			if r.Passed != (len(tc.want) == 0) {
				t.Errorf("Passed = %v with failures %+v", r.Passed, r.Failures)
			}
			if len(r.Failures) != len(tc.want) {
				t.Fatalf("got %d failures, want %d:\n%s", len(r.Failures), len(tc.want), r)
			}
			for i, w := range tc.want {
				f := r.Failures[i]
				if f.Check != w.check || f.Worker != w.worker || !approx(f.Value, w.value) || !approx(f.Limit, w.limit) ||
					f.Cgroup != tc.cgroups[0].Name {
					t.Errorf("failure %d = {%s cgroup %s worker %d value %v limit %v}, want {%s worker %d value %v limit %v}",
						i, f.Check, f.Cgroup, f.Worker, f.Value, f.Limit, w.check, w.worker, w.value, w.limit)
				}
				if f.Message != w.msg {
					t.Errorf("failure %d message\n got %q\nwant %q", i, f.Message, w.msg)
				}
			}
			for _, n := range tc.notes {
				if !containsSub(r.Notes, n) {
					t.Errorf("no note contains %q; notes: %q", n, r.Notes)
				}
			}
			if len(r.Cgroups) != len(tc.cgroups) {
				t.Errorf("got %d cgroup stats, want %d", len(r.Cgroups), len(tc.cgroups))
			}
		})
	}
}

func containsSub(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestCheckIsolationCPUs(t *testing.T) {
	r := Check(only(func(c *Config) { c.Isolation = On }), []CgroupReport{{Name: "cg", CPUs: []int{3, 1},
		Workers: []workload.Report{{WorkUnits: 1, CPUs: []int{1, 2, 3, 4}}}}}, Env{})
	if len(r.Failures) != 1 {
		t.Fatalf("failures: %+v", r.Failures)
	}
	f := r.Failures[0]
	if len(f.CPUs) != 2 || f.CPUs[0] != 2 || f.CPUs[1] != 4 {
		t.Errorf("escaped CPUs = %v, want [2 4]", f.CPUs)
	}
	// the cpuset is printed sorted.
	if want := "cgroup cg: worker 0 ran on CPU(s) 2,4 outside its cpuset 1,3"; f.Message != want {
		t.Errorf("message %q, want %q", f.Message, want)
	}
}

// Failures come cgroup by cgroup, in check order within a cgroup.
func TestCheckOrder(t *testing.T) {
	cfg := Merge(Defaults(), Config{MaxMigrationRatio: Val(0.1)})
	bad := func() []workload.Report {
		return []workload.Report{
			with(wk(0, 10, 2*s, 0), func(r *workload.Report) { r.Migrations = 5; r.MaxGap = 3 * s }),
			wk(10, 10, 2*s, 2*s),
		}
	}
	r := Check(cfg, []CgroupReport{{Name: "a", Workers: bad()}, {Name: "b", Workers: bad()}}, Env{})
	var got []string
	for _, f := range r.Failures {
		got = append(got, f.Cgroup+"/"+f.Check)
	}
	want := "a/starvation a/spread a/gap a/migration_ratio b/starvation b/spread b/gap b/migration_ratio"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %v", got, want)
	}
}
