package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MonitorSample is one sample of the guest's scheduler state, taken by the
// host.
type MonitorSample struct {
	// At is when the sample was taken, since the test function started
	// (host time).
	At time.Duration `json:"at"`
	// CPUs holds one entry per guest CPU, indexed by guest CPU number.
	CPUs []CPUSample `json:"cpus"`
	// Confined is set when the test function had confined its workers to
	// some CPUs (a cpuset or an affinity narrower than the guest's CPUs)
	// at the time of the sample: an imbalance is then the test's doing,
	// and the imbalance ratio is not judged.
	Confined bool `json:"confined,omitempty"`
}

// CPUSample is one guest CPU's runqueue in a MonitorSample.
//
// In JSON a CPUSample is an array of seven integers, in the order of the
// fields: [nr, scx, dsq, clk, vcpu, fb, kl] (see CPUSampleColumns), since a
// series holds CPUs × samples of them.
type CPUSample struct {
	NrRunning    uint32 // nr: rq->nr_running
	ScxNrRunning uint32 // scx: rq->scx.nr_running
	LocalDSQ     uint32 // dsq: rq->scx.local_dsq.nr
	Clock        uint64 // clk: rq->clock, ns
	// VCPUTime (vcpu) is the host CPU time the thread of this CPU's vCPU
	// has used so far, ns; 0 when unknown. The thread must run this vCPU
	// only.
	VCPUTime uint64
	// Fallback (fb) and KeepLast (kl) are the kernel's cumulative sched_ext
	// event counters for this CPU (select-cpu fallback, dispatch
	// keep-last), when the kernel has them (MonitorSeries.HasEvents).
	Fallback, KeepLast uint64
}

// CPUSampleColumns names the numbers of a CPUSample's JSON array, in order.
func CPUSampleColumns() []string { return []string{"nr", "scx", "dsq", "clk", "vcpu", "fb", "kl"} }

func (c CPUSample) values() [7]uint64 {
	return [7]uint64{uint64(c.NrRunning), uint64(c.ScxNrRunning), uint64(c.LocalDSQ), c.Clock, c.VCPUTime, c.Fallback, c.KeepLast}
}

// MarshalJSON encodes c as [nr, scx, dsq, clk, vcpu, fb, kl].
func (c CPUSample) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64)
	b = append(b, '[')
	for i, v := range c.values() {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, v, 10)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON is the inverse of MarshalJSON: an array of exactly seven
// non-negative integers, the first three at most 2³²−1. null leaves c
// unchanged.
func (c *CPUSample) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v []uint64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("verify.CPUSample: %w", err)
	}
	if len(v) != 7 {
		return fmt.Errorf("verify.CPUSample: %d numbers, want 7 (%s)", len(v), strings.Join(CPUSampleColumns(), ", "))
	}
	for i, x := range v[:3] {
		if x > math.MaxUint32 {
			return fmt.Errorf("verify.CPUSample: %s %d does not fit in 32 bits", CPUSampleColumns()[i], x)
		}
	}
	*c = CPUSample{uint32(v[0]), uint32(v[1]), uint32(v[2]), v[3], v[4], v[5], v[6]}
	return nil
}

// MonitorSeries is everything the host-side monitor saw during a test, and
// what it could see.
type MonitorSeries struct {
	// Interval is the time between samples.
	Interval time.Duration `json:"interval"`
	// Samples are the samples the monitor kept, in time order.
	Samples []MonitorSample `json:"samples"`
	// SchedExt reports that a sched_ext scheduler was attached (false:
	// EEVDF).
	SchedExt bool `json:"sched_ext"`
	// What the guest kernel exposes (false: not on this kernel; 6.12 has
	// no sched_ext event counters): the rq->scx fields (ScxNrRunning,
	// LocalDSQ), the event counters (Fallback, KeepLast), and the vCPU
	// threads' CPU time (VCPUTime).
	HasScx      bool `json:"has_scx"`
	HasEvents   bool `json:"has_events"`
	HasVCPUTime bool `json:"has_vcpu_time"`
	// Discarded counts the samples the monitor itself threw away (reads
	// that failed or looked like uninitialized memory); they are not in
	// Samples.
	Discarded int `json:"discarded"`
}

// Plausibility bounds of a sample.
const (
	// maxPlausible bounds nr_running and the local DSQ depth of one CPU:
	// a larger value is a bad read, not a runqueue.
	maxPlausible = 10000
	// maxWindow bounds the judged samples of a Failure.Window: a longer
	// violation keeps its first maxWindow samples (the message has its
	// whole length).
	maxWindow = 30
)

// CheckMonitor runs the enabled MonitorScope checks of a merged cfg over
// the series the host-side monitor took: imbalance ratio
// (MaxImbalanceRatio), local DSQ depth (MaxLocalDSQDepth), stall
// (FailOnStall), fallback rate (MaxFallbackRate) and keep-last rate
// (MaxKeepLastRate), in table order. Limits are scaled for env as
// ScaledLimits describes, with a note for every scaled limit; the formulas
// are on the check functions.
//
// Samples are judged only when plausible: a sample in which a CPU's
// nr_running or local DSQ depth is above 10000, scx.nr_running is above
// nr_running, the rq clock is 0 or went backwards from the previous judged
// sample, whose number of CPUs differs from the series' usual one, or
// which was taken no later than the previous judged sample is discarded
// (counted in a note). Pairwise checks (stall, rates) compare consecutive
// judged samples.
//
// A check fails only when its violation lasts SustainedSamples consecutive
// judged samples (1 when SustainedSamples is unset or disabled; for the
// stall, on the same CPU); a discarded sample, or one the check could not
// judge, ends a run. A window is a whole such run (it may be longer than
// SustainedSamples). Each check reports at most one Failure, on its first
// window, with the number of windows in the message, Value the worst
// value of the window, Limit the effective limit, Worker -1, the CPUs
// involved, and Window the window's samples with one judged sample either
// side (Failure.WindowTable formats them).
//
// A check that does not apply (a sched_ext check under EEVDF) or cannot be
// evaluated on this kernel is skipped with a note, never silently passed;
// an empty series is a note that the monitor judged 0 samples. The result
// fails when a check failed; it has no Cgroups. Its cost is linear in
// samples × CPUs, so a monitor may call it on the series so far.
func CheckMonitor(cfg Config, s MonitorSeries, env Env) Result {
	lim := ScaledLimits(cfg, env)
	type active struct {
		s *Setting
		l Limit
	}
	var checks []active
	for i := range table {
		if st := &table[i]; st.mon != nil {
			if l, _ := lim.Lookup(st.ID); l.On {
				checks = append(checks, active{st, l})
			}
		}
	}
	r := Pass()
	if len(checks) == 0 {
		return r
	}
	m := newMonitorRun(s, sustained(cfg))
	r.Notes = append(r.Notes, m.summary())
	if len(m.kept) == 0 {
		return r
	}
	var unmet [4][]string // names of the checks skipped for each need
	var scaled, notes []string
	for _, c := range checks {
		if miss := c.s.needs &^ m.has; miss != 0 {
			i := bits.TrailingZeros8(uint8(miss)) // the first need missing
			unmet[i] = append(unmet[i], c.s.what())
			continue
		}
		if c.l.Scaled() {
			scaled = append(scaled, scaledNote(c.l))
		}
		f, n := c.s.mon(m, c.l)
		r.Failures, notes = append(r.Failures, f...), append(notes, n...)
	}
	for i, names := range unmet {
		if len(names) > 0 {
			r.Notes = append(r.Notes, needNote(monitorNeed(1<<i), names))
		}
	}
	r.Notes = append(append(r.Notes, scaled...), notes...)
	r.Passed = len(r.Failures) == 0
	return r
}

// sustained returns cfg.SustainedSamples as a count: 1 when unset or
// disabled (every violating sample counts).
func sustained(cfg Config) int {
	v, ok := cfg.SustainedSamples.Value()
	switch {
	case !ok || v < 1 || math.IsNaN(v):
		return 1
	case v > 1e9:
		return 1e9
	}
	return int(v)
}

// A monitorNeed is what a monitor check needs from the series.
type monitorNeed uint8

// Monitor needs, in the order their notes are given.
const (
	needSchedExt monitorNeed = 1 << iota // a sched_ext scheduler attached
	needScx                              // the rq->scx fields (HasScx)
	needEvents                           // the event counters (HasEvents)
	needVCPUTime                         // the vCPU threads' CPU time (HasVCPUTime)
)

// needNote says why the named checks were not evaluated.
func needNote(n monitorNeed, names []string) string {
	list := joinAnd(names)
	switch n {
	case needSchedExt:
		return "monitor: no sched_ext scheduler attached (EEVDF): the monitor's sched_ext checks do not apply (" + list + " not checked)"
	case needScx:
		return "monitor: " + list + " not checked: this kernel has no sched_ext runqueue fields (rq->scx)"
	case needEvents:
		return "monitor: " + list + " not checked: unsupported on this kernel (no sched_ext event counters; Linux 6.16 and later have them)"
	}
	return "monitor: " + list + " not checked: the host's vCPU CPU time is unknown"
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// what names a check in notes: its Name without " limit" or " check".
func (s *Setting) what() string {
	return strings.TrimSuffix(strings.TrimSuffix(s.Name, " limit"), " check")
}

// A monitorCheck evaluates one MonitorScope check over the judged samples
// of m against the check's effective limit l (l.On is true). It returns at
// most one failure, and notes.
type monitorCheck func(m *monitorRun, l Limit) ([]Failure, []string)

// Why a sample was discarded, in the order they are tested.
const (
	badCPUs = iota
	badCount
	badScx
	badZeroClock
	badClockBack
	badTime
	nBad
)

var badWhy = [nBad]string{
	badCPUs:      "a different number of CPUs",
	badCount:     "nr_running or a local DSQ depth above 10000",
	badScx:       "scx.nr_running above nr_running",
	badZeroClock: "a zero rq clock",
	badClockBack: "an rq clock that went backwards",
	badTime:      "a time not after the previous sample's",
}

// monitorRun is a series with its judged samples.
type monitorRun struct {
	s MonitorSeries
	// kept are the positions in s.Samples of the judged samples; brk[k]
	// reports that a discarded sample lies between kept[k-1] and kept[k].
	kept []int
	brk  []bool
	// n is SustainedSamples; ncpu the series' number of CPUs.
	n, ncpu int
	has     monitorNeed
	// bad counts discarded samples by reason; first describes the first.
	bad   [nBad]int
	first string
}

func newMonitorRun(s MonitorSeries, n int) *monitorRun {
	m := &monitorRun{s: s, n: n, ncpu: usualCPUs(s.Samples)}
	for _, x := range []struct {
		need monitorNeed
		ok   bool
	}{{needSchedExt, s.SchedExt}, {needScx, s.HasScx}, {needEvents, s.HasEvents}, {needVCPUTime, s.HasVCPUTime}} {
		if x.ok {
			m.has |= x.need
		}
	}
	broken := false
	for i := range s.Samples {
		var prev *MonitorSample
		if len(m.kept) > 0 {
			prev = &s.Samples[m.kept[len(m.kept)-1]]
		}
		why, desc := implausible(&s.Samples[i], prev, m.ncpu)
		if why >= 0 {
			if m.bad[why]++; m.first == "" {
				m.first = fmt.Sprintf("%s s: %s", fnum(s.Samples[i].At.Seconds()), desc)
			}
			broken = true
			continue
		}
		m.kept = append(m.kept, i)
		m.brk = append(m.brk, broken)
		broken = false
	}
	return m
}

// usualCPUs returns the most frequent number of CPUs of the samples (the
// larger on ties), 0 without samples.
func usualCPUs(ss []MonitorSample) int {
	count := map[int]int{}
	best := 0
	for _, s := range ss {
		n := len(s.CPUs)
		count[n]++
		if count[n] > count[best] || count[n] == count[best] && n > best {
			best = n
		}
	}
	return best
}

// implausible returns why s is implausible after the judged sample prev
// (nil: none), with a description, or -1.
func implausible(s, prev *MonitorSample, ncpu int) (int, string) {
	if len(s.CPUs) != ncpu || ncpu == 0 {
		return badCPUs, fmt.Sprintf("%d CPUs, usually %d", len(s.CPUs), ncpu)
	}
	for c, x := range s.CPUs {
		switch {
		case x.NrRunning > maxPlausible:
			return badCount, fmt.Sprintf("CPU %d nr_running %d", c, x.NrRunning)
		case x.LocalDSQ > maxPlausible:
			return badCount, fmt.Sprintf("CPU %d local DSQ depth %d", c, x.LocalDSQ)
		case x.ScxNrRunning > x.NrRunning:
			return badScx, fmt.Sprintf("CPU %d scx.nr_running %d > nr_running %d", c, x.ScxNrRunning, x.NrRunning)
		case x.Clock == 0:
			return badZeroClock, fmt.Sprintf("CPU %d rq clock 0", c)
		case prev != nil && x.Clock < prev.CPUs[c].Clock:
			return badClockBack, fmt.Sprintf("CPU %d rq clock %d < %d before", c, x.Clock, prev.CPUs[c].Clock)
		}
	}
	if prev != nil && s.At <= prev.At {
		return badTime, fmt.Sprintf("taken at %s, the sample before at %s", s.At, prev.At)
	}
	return -1, ""
}

// summary is the note on how many samples were judged.
func (m *monitorRun) summary() string {
	n := len(m.s.Samples)
	if n == 0 && m.s.Discarded == 0 {
		return "monitor: judged 0 samples: the monitor took none (it did not run, or the test was too short); no monitor check was evaluated"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "monitor: judged %d of %d samples", len(m.kept), n)
	if m.s.Interval > 0 {
		fmt.Fprintf(&b, " taken every %s", m.s.Interval)
	}
	if d := n - len(m.kept); d > 0 {
		var why []string
		for i, c := range m.bad {
			if c > 0 {
				why = append(why, fmt.Sprintf("%d with %s", c, badWhy[i]))
			}
		}
		fmt.Fprintf(&b, "; %d discarded as implausible (%s; the first at %s)", d, strings.Join(why, ", "), m.first)
	}
	if m.s.Discarded > 0 {
		fmt.Fprintf(&b, "; the monitor itself threw away %d more (reads that failed or looked uninitialized)", m.s.Discarded)
	}
	switch {
	case len(m.kept) == 0:
		b.WriteString("; no monitor check was evaluated")
	case len(m.kept) < m.n:
		fmt.Fprintf(&b, "; fewer than the %d consecutive samples a violation must last: no monitor check can fail", m.n)
	case m.n == 1:
		b.WriteString("; a single violating sample fails a check")
	default:
		fmt.Fprintf(&b, "; a violation must last %d consecutive samples", m.n)
	}
	return b.String()
}

// sample returns the k-th judged sample.
func (m *monitorRun) sample(k int) *MonitorSample { return &m.s.Samples[m.kept[k]] }

// A mark is one check's judgement of one judged sample (of the interval
// that ends with it, for the pairwise checks).
type mark struct {
	judged, bad bool
	v           float64 // the value compared against the limit
}

// A window is a run of at least SustainedSamples consecutive violating
// judged samples, from and to inclusive, on one CPU (stall) or all (-1).
type window struct{ from, to, cpu int }

func (w window) len() int { return w.to - w.from + 1 }

// windows returns the maximal runs of at least m.n consecutive judged,
// violating marks (marks has one per judged sample); a discarded sample
// between two judged ones ends a run.
func (m *monitorRun) windows(marks []mark, cpu int) []window {
	var out []window
	start := -1
	end := func(to int) {
		if start >= 0 && to-start+1 >= m.n {
			out = append(out, window{start, to, cpu})
		}
		start = -1
	}
	for k, mk := range marks {
		if m.brk[k] {
			end(k - 1)
		}
		if !mk.judged || !mk.bad {
			end(k - 1)
			continue
		}
		if start < 0 {
			start = k
		}
	}
	end(len(marks) - 1)
	return out
}

// worst returns the judged sample of w with the largest value.
func worst(marks []mark, w window) int {
	best := w.from
	for k := w.from; k <= w.to; k++ {
		if marks[k].v > marks[best].v {
			best = k
		}
	}
	return best
}

// during says how long w lasted and when, and how many windows there were:
// "for 7 consecutive samples (12.3 s to 12.9 s into the test; the only
// sustained window)", "in 1 sample (12.3 s into the test; ...)".
func (m *monitorRun) during(w window, windows int) string {
	which := "the only sustained window"
	if windows > 1 {
		which = fmt.Sprintf("the first of %d sustained windows", windows)
	}
	from := fnum(m.sample(w.from).At.Seconds())
	if w.len() == 1 {
		return fmt.Sprintf("in 1 sample (%s s into the test; %s)", from, which)
	}
	return fmt.Sprintf("for %d consecutive samples (%s s to %s s into the test; %s)",
		w.len(), from, fnum(m.sample(w.to).At.Seconds()), which)
}

// evidence returns the samples of w, at most maxWindow of them, with the
// judged sample before and (when w is whole) after, copied.
func (m *monitorRun) evidence(w window) []MonitorSample {
	from, to := max(0, w.from-1), min(len(m.kept)-1, w.to+1)
	if w.len() > maxWindow {
		to = w.from + maxWindow - 1
	}
	var out []MonitorSample
	for k := from; k <= to; k++ {
		s := m.sample(k)
		out = append(out, MonitorSample{At: s.At, CPUs: slices.Clone(s.CPUs), Confined: s.Confined})
	}
	return out
}

// failure builds the Failure of a check on its first window w.
func (m *monitorRun) failure(check string, l Limit, w window, value float64, cpus []int, msg string) Failure {
	return Failure{Check: check, Message: msg, Value: value, Limit: l.Effective, Worker: -1, CPUs: cpus, Window: m.evidence(w)}
}

// checkImbalance computes, for each judged sample, ratio = max over CPUs
// of nr_running / max(1, min over CPUs of nr_running), violated when
// ratio > l.Effective (never scaled). sched_ext only. Value is the largest
// ratio of the window; CPUs the busiest and the idlest CPU of that sample.
func checkImbalance(m *monitorRun, l Limit) ([]Failure, []string) {
	marks := make([]mark, len(m.kept))
	confined := 0
	for k := range m.kept {
		if m.sample(k).Confined {
			confined++
			continue // not judged: it breaks any run
		}
		r, _, _ := imbalance(m.sample(k).CPUs)
		marks[k] = mark{judged: true, bad: r > l.Effective, v: r}
	}
	var notes []string
	if confined > 0 {
		notes = append(notes, fmt.Sprintf("monitor: imbalance ratio not judged in %d of %d samples, taken while the test confined workers to some CPUs (cpusets or affinity)", confined, len(m.kept)))
	}
	ws := m.windows(marks, -1)
	if len(ws) == 0 {
		return nil, notes
	}
	w := ws[0]
	k := worst(marks, w)
	cs := m.sample(k).CPUs
	r, hi, lo := imbalance(cs)
	msg := fmt.Sprintf("imbalance ratio %.1f > %s %s; worst at %s s: CPU %d nr_running %d, CPU %d nr_running %d",
		r, l, m.during(w, len(ws)), fnum(m.sample(k).At.Seconds()), hi, cs[hi].NrRunning, lo, cs[lo].NrRunning)
	return []Failure{m.failure(CheckImbalanceRatio, l, w, r, sortedCopy([]int{hi, lo}), msg)}, notes
}

// imbalance returns max nr_running / max(1, min nr_running) over cs, with
// the busiest and the idlest CPU (the first ones on ties).
func imbalance(cs []CPUSample) (ratio float64, hi, lo int) {
	for c, x := range cs {
		if x.NrRunning > cs[hi].NrRunning {
			hi = c
		}
		if x.NrRunning < cs[lo].NrRunning {
			lo = c
		}
	}
	return float64(cs[hi].NrRunning) / float64(max(1, cs[lo].NrRunning)), hi, lo
}

// checkLocalDSQ takes, for each judged sample, the deepest local DSQ of
// any CPU (rq->scx.local_dsq.nr), violated when depth > l.Effective (never
// scaled); the CPU may change from sample to sample. sched_ext only, with
// the rq->scx fields. Value is the deepest DSQ of the window; CPUs every
// CPU over the limit in it.
func checkLocalDSQ(m *monitorRun, l Limit) ([]Failure, []string) {
	marks := make([]mark, len(m.kept))
	for k := range m.kept {
		d, _ := deepest(m.sample(k).CPUs)
		marks[k] = mark{judged: true, bad: float64(d) > l.Effective, v: float64(d)}
	}
	ws := m.windows(marks, -1)
	if len(ws) == 0 {
		return nil, nil
	}
	w := ws[0]
	k := worst(marks, w)
	d, cpu := deepest(m.sample(k).CPUs)
	var over []int
	for j := w.from; j <= w.to; j++ {
		for c, x := range m.sample(j).CPUs {
			if float64(x.LocalDSQ) > l.Effective && !slices.Contains(over, c) {
				over = append(over, c)
			}
		}
	}
	slices.Sort(over)
	msg := fmt.Sprintf("CPU %d local DSQ depth %d > %s %s", cpu, d, l, m.during(w, len(ws)))
	if len(over) > 1 {
		msg += fmt.Sprintf("; CPUs %s over the limit in the window", cpuList(over))
	}
	return []Failure{m.failure(CheckLocalDSQDepth, l, w, float64(d), over, msg)}, nil
}

// deepest returns the largest LocalDSQ of cs and its CPU (the first on
// ties).
func deepest(cs []CPUSample) (uint32, int) {
	cpu := 0
	for c, x := range cs {
		if x.LocalDSQ > cs[cpu].LocalDSQ {
			cpu = c
		}
	}
	return cs[cpu].LocalDSQ, cpu
}

// checkStall judges each CPU in each interval between two consecutive
// judged samples p and k. The CPU stalls in k when it had runnable tasks
// (nr_running > 0) in both, its rq clock did not change, and its vCPU ran
// meanwhile: VCPUTime grew by at least a tenth of the interval (of
// MonitorSeries.Interval, or of the time between p and k when the series
// has no Interval). A vCPU the host did not run cannot advance its clock:
// a frozen clock then is host preemption, not a stall, and the interval is
// not judged; while the vCPU runs with a runnable task the guest's tick
// updates rq->clock (every 1 to 10 ms), so a tenth of the interval is many
// ticks. (A CPU in nohz_full mode stops its tick with one task: the
// monitor does not suit guests booted with nohz_full.) An interval without
// the vCPU time of both samples (0) or where it went backwards is not
// judged.
//
// The stall check applies whoever schedules (EEVDF too) and needs
// HasVCPUTime. It fails when a CPU stalls in SustainedSamples consecutive
// judged samples. Value is the length of the first window in samples,
// Limit SustainedSamples; CPUs the CPUs whose own windows overlap it.
func checkStall(m *monitorRun, l Limit) ([]Failure, []string) {
	if len(m.kept) < 2 {
		return nil, []string{"monitor: stall not checked: fewer than two judged samples"}
	}
	var ws []window
	preempted := 0
	for c := range m.ncpu {
		mk := make([]mark, len(m.kept))
		for k := 1; k < len(m.kept); k++ {
			p, s := m.sample(k-1), m.sample(k)
			a, b := p.CPUs[c], s.CPUs[c]
			if a.VCPUTime == 0 || b.VCPUTime == 0 || b.VCPUTime < a.VCPUTime {
				continue
			}
			minRun := m.s.Interval / 10
			if minRun <= 0 {
				minRun = (s.At - p.At) / 10
			}
			frozen := a.NrRunning > 0 && b.NrRunning > 0 && a.Clock == b.Clock
			if frozen && b.VCPUTime-a.VCPUTime < uint64(minRun) {
				preempted++
				continue
			}
			mk[k] = mark{judged: true, bad: frozen}
		}
		ws = append(ws, m.windows(mk, c)...)
	}
	var notes []string
	if preempted > 0 {
		notes = append(notes, fmt.Sprintf("monitor: stall: %d time(s) a runnable CPU's clock stood still while its vCPU ran less than a tenth of the interval (host preemption, not judged)", preempted))
	}
	if len(ws) == 0 {
		return nil, notes
	}
	slices.SortStableFunc(ws, func(a, b window) int { return a.from - b.from })
	w := ws[0]
	var cpus, all []int
	for _, x := range ws {
		if x.from <= w.to && x.to >= w.from && !slices.Contains(cpus, x.cpu) {
			cpus = append(cpus, x.cpu)
		}
		if !slices.Contains(all, x.cpu) {
			all = append(all, x.cpu)
		}
	}
	slices.Sort(cpus)
	slices.Sort(all)
	var maxNr uint32
	for k := w.from - 1; k <= w.to; k++ {
		maxNr = max(maxNr, m.sample(k).CPUs[w.cpu].NrRunning)
	}
	first, last := m.sample(w.from - 1).CPUs[w.cpu], m.sample(w.to).CPUs[w.cpu]
	msg := fmt.Sprintf("CPU %d stalled: runnable (nr_running up to %d) but its rq clock stayed at %.6f s while its vCPU ran %s, %s",
		w.cpu, maxNr, float64(first.Clock)/1e9, fdur(float64(last.VCPUTime-first.VCPUTime)), m.during(w, len(ws)))
	if len(cpus) > 1 {
		msg += fmt.Sprintf("; CPUs %s stalled at the same time", cpuList(cpus))
	}
	if len(all) > len(cpus) {
		msg += fmt.Sprintf("; stalls on CPUs %s in all", cpuList(all))
	}
	f := m.failure(CheckStall, l, w, float64(w.len()), cpus, msg)
	f.Limit = float64(m.n) // a Switch has no limit: the window's length is compared against SustainedSamples
	return []Failure{f}, notes
}

// checkFallbackRate: see checkRate, with the select-cpu fallback counter.
func checkFallbackRate(m *monitorRun, l Limit) ([]Failure, []string) {
	return checkRate(m, l, CheckFallbackRate, "fallback", func(c CPUSample) uint64 { return c.Fallback })
}

// checkKeepLastRate: see checkRate, with the dispatch keep-last counter.
func checkKeepLastRate(m *monitorRun, l Limit) ([]Failure, []string) {
	return checkRate(m, l, CheckKeepLastRate, "keep-last", func(c CPUSample) uint64 { return c.KeepLast })
}

// checkRate computes, for each interval between two consecutive judged
// samples p and k, rate = Σ over CPUs of (counter_k − counter_p) /
// (At_k − At_p in seconds), violated when rate > l.Effective, where
// l.Effective = the configured rate / scale factor. An interval in which a
// CPU's counter went backwards (the counters restart with the scheduler)
// is not judged, with a note. sched_ext only, with the event counters.
// Value is the largest rate of the window; CPUs the CPUs whose counter
// rose in it.
func checkRate(m *monitorRun, l Limit, check, what string, counter func(CPUSample) uint64) ([]Failure, []string) {
	if len(m.kept) < 2 {
		return nil, []string{fmt.Sprintf("monitor: %s rate not checked: fewer than two judged samples", what)}
	}
	marks := make([]mark, len(m.kept))
	back := 0
	for k := 1; k < len(m.kept); k++ {
		p, s := m.sample(k-1), m.sample(k)
		n, ok := increase(p, s, counter)
		if !ok {
			back++
			continue
		}
		r := float64(n) / (s.At - p.At).Seconds()
		marks[k] = mark{judged: true, bad: r > l.Effective, v: r}
	}
	var notes []string
	if back > 0 {
		notes = append(notes, fmt.Sprintf("monitor: %s rate: %d interval(s) not judged: a CPU's counter went backwards (the scheduler restarted?)", what, back))
	}
	ws := m.windows(marks, -1)
	if len(ws) == 0 {
		return nil, notes
	}
	w := ws[0]
	k := worst(marks, w)
	p, s := m.sample(w.from-1), m.sample(w.to)
	total, _ := increase(p, s, counter)
	var cpus []int
	top := 0
	for c := range s.CPUs {
		if d := counter(s.CPUs[c]) - counter(p.CPUs[c]); d > 0 {
			cpus = append(cpus, c)
			if d > counter(s.CPUs[top])-counter(p.CPUs[top]) {
				top = c
			}
		}
	}
	msg := fmt.Sprintf("%s rate %.1f %s > %s %s; %d events in %s s, most on CPU %d (%d)",
		what, marks[k].v, l.Unit, l, m.during(w, len(ws)), total, fnum((s.At - p.At).Seconds()),
		top, counter(s.CPUs[top])-counter(p.CPUs[top]))
	return []Failure{m.failure(check, l, w, marks[k].v, cpus, msg)}, notes
}

// increase returns Σ over CPUs of counter(s) − counter(p); not ok when a
// counter went backwards.
func increase(p, s *MonitorSample, counter func(CPUSample) uint64) (uint64, bool) {
	var n uint64
	for c := range s.CPUs {
		a, b := counter(p.CPUs[c]), counter(s.CPUs[c])
		if b < a {
			return 0, false
		}
		n += b - a
	}
	return n, true
}
