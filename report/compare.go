package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Metric is one figure Compare compares, with the change that counts: a
// change is significant only when it exceeds both Abs (in the metric's
// unit) and Rel (a fraction of the base), and, with at least two runs on
// each side, when a Mann-Whitney U test across them gives p < Alpha.
type Metric struct {
	Name string
	Unit string
	// LowerBetter says which way is a regression.
	LowerBetter bool
	Abs, Rel    float64
	value       func(cg cgroupFigures) float64
}

type cgroupFigures struct {
	spread, p99, gap, rate, offCPU, migr float64
}

// Alpha is the significance level of the U test.
const Alpha = 0.05

// Metrics returns the metrics Compare uses by default, per cgroup.
func Metrics() []Metric {
	return []Metric{
		{Name: "spread", Unit: "pct", LowerBetter: true, Abs: 1, Rel: 0.10, value: func(c cgroupFigures) float64 { return c.spread }},
		{Name: "p99_wake", Unit: "ns", LowerBetter: true, Abs: 50_000, Rel: 0.10, value: func(c cgroupFigures) float64 { return c.p99 }},
		{Name: "max_gap", Unit: "ms", LowerBetter: true, Abs: 5, Rel: 0.10, value: func(c cgroupFigures) float64 { return c.gap }},
		{Name: "work_rate", Unit: "units/s", LowerBetter: false, Abs: 0, Rel: 0.05, value: func(c cgroupFigures) float64 { return c.rate }},
		{Name: "off_cpu", Unit: "pct", LowerBetter: true, Abs: 1, Rel: 0.10, value: func(c cgroupFigures) float64 { return c.offCPU }},
		{Name: "migration_ratio", Unit: "ratio", LowerBetter: true, Abs: 0.01, Rel: 0.10, value: func(c cgroupFigures) float64 { return c.migr }},
	}
}

// ParseThreshold applies "metric=abs,rel" (either may be empty) to ms.
func ParseThreshold(ms []Metric, s string) error {
	name, v, ok := strings.Cut(s, "=")
	a, r, _ := strings.Cut(v, ",")
	i := slices.IndexFunc(ms, func(m Metric) bool { return m.Name == name })
	if !ok || i < 0 {
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
		}
		return fmt.Errorf("threshold %q: want METRIC=ABS,REL with METRIC one of %s", s, strings.Join(names, ", "))
	}
	if a != "" {
		f, err := strconv.ParseFloat(a, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("threshold %q: absolute threshold %q is not a number >= 0", s, a)
		}
		ms[i].Abs = f
	}
	if r != "" {
		f, err := strconv.ParseFloat(r, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("threshold %q: relative threshold %q is not a number >= 0 (0.1 is 10%%)", s, r)
		}
		ms[i].Rel = f
	}
	return nil
}

// Key is what pairs runs: test, topology, scheduler, profile and kernel
// (those Ignore leaves out are empty).
type Key struct {
	Test      string `json:"test,omitempty"`
	Topology  string `json:"topology,omitempty"`
	Scheduler string `json:"scheduler,omitempty"`
	Profile   string `json:"profile,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
}

func (k Key) String() string {
	var parts []string
	for _, p := range []string{k.Test, k.Topology, k.Scheduler, k.Profile, k.Kernel} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}

// KeyFields are the fields of Key Ignore may name.
var KeyFields = []string{"test", "topology", "scheduler", "profile", "kernel"}

func keyOf(r Record, ignore []string) Key {
	k := Key{Test: r.Test, Topology: r.Topology, Scheduler: r.Scheduler, Profile: r.Profile, Kernel: r.Kernel}
	for _, f := range ignore {
		switch f {
		case "test":
			k.Test = ""
		case "topology":
			k.Topology = ""
		case "scheduler":
			k.Scheduler = ""
		case "profile":
			k.Profile = ""
		case "kernel":
			k.Kernel = ""
		}
	}
	return k
}

// Delta is one metric of one pair.
type Delta struct {
	Metric string  `json:"metric"` // "<cgroup>/<metric>"
	Unit   string  `json:"unit"`
	Base   float64 `json:"base"` // means over the runs
	New    float64 `json:"new"`
	Delta  float64 `json:"delta"`
	// Rel is Delta / Base (0 when Base is 0).
	Rel float64 `json:"rel"`
	// N are the runs on each side; P the U test's p (-1: too few runs).
	N [2]int  `json:"n"`
	P float64 `json:"p"`
	// Verdict is "better", "worse" or "~" (not significant).
	Verdict string `json:"verdict"`
}

// Pair is the runs of one key on both sides.
type Pair struct {
	Key Key `json:"key"`
	// Passed counts passing runs on each side, of Runs.
	Passed [2]int   `json:"passed"`
	Runs   [2]int   `json:"runs"`
	Deltas []Delta  `json:"deltas,omitempty"`
	Notes  []string `json:"notes,omitempty"`
	// Regression is set when a run that passed in base fails in new, or a
	// metric got significantly worse.
	Regression bool `json:"regression"`
}

// Comparison is Compare's result.
type Comparison struct {
	Pairs    []Pair `json:"pairs"`
	OnlyBase []Key  `json:"only_base,omitempty"`
	OnlyNew  []Key  `json:"only_new,omitempty"`
	// Regressions counts the pairs with a regression.
	Regressions int `json:"regressions"`
}

// Compare pairs the records of base and new by Key (without the fields
// ignore names) and compares each pair's metrics.
func Compare(base, new []Record, ms []Metric, ignore []string) (Comparison, error) {
	for _, f := range ignore {
		if !slices.Contains(KeyFields, f) {
			return Comparison{}, fmt.Errorf("ignore %q: not one of %s", f, strings.Join(KeyFields, ", "))
		}
	}
	group := func(recs []Record) map[Key][]Record {
		g := map[Key][]Record{}
		for _, r := range recs {
			k := keyOf(r, ignore)
			g[k] = append(g[k], r)
		}
		return g
	}
	b, n := group(base), group(new)
	var c Comparison
	for k := range b {
		if _, ok := n[k]; !ok {
			c.OnlyBase = append(c.OnlyBase, k)
		}
	}
	for k := range n {
		if _, ok := b[k]; !ok {
			c.OnlyNew = append(c.OnlyNew, k)
		}
	}
	for k, br := range b {
		nr, ok := n[k]
		if !ok {
			continue
		}
		p := comparePair(k, br, nr, ms)
		if p.Regression {
			c.Regressions++
		}
		c.Pairs = append(c.Pairs, p)
	}
	byKey := func(a, b Key) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(c.OnlyBase, byKey)
	slices.SortFunc(c.OnlyNew, byKey)
	slices.SortFunc(c.Pairs, func(a, b Pair) int { return byKey(a.Key, b.Key) })
	return c, nil
}

func comparePair(k Key, base, new []Record, ms []Metric) Pair {
	p := Pair{Key: k, Runs: [2]int{len(base), len(new)}}
	for i, side := range [][]Record{base, new} {
		for _, r := range side {
			if r.Passed {
				p.Passed[i]++
			}
		}
	}
	if p.Passed[0] == p.Runs[0] && p.Passed[1] < p.Runs[1] {
		p.Regression = true
		p.Notes = append(p.Notes, fmt.Sprintf("%d of %d run(s) failed in new, none in base", p.Runs[1]-p.Passed[1], p.Runs[1]))
	}
	// Per cgroup name, every run's figures on each side.
	figs := func(recs []Record) map[string][]cgroupFigures {
		out := map[string][]cgroupFigures{}
		for _, r := range recs {
			if r.Result == nil {
				continue
			}
			for _, cg := range r.Result.Cgroups {
				out[cg.Name] = append(out[cg.Name], cgroupFigures{spread: cg.SpreadPct, p99: cg.P99WakeNs, gap: cg.MaxGapMs,
					rate: cg.MeanWorkRate, offCPU: cg.MeanOffCPUPct, migr: cg.MigrationRatio})
			}
		}
		return out
	}
	bf, nf := figs(base), figs(new)
	var names []string
	for name := range bf {
		if _, ok := nf[name]; ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, cg := range names {
		for _, m := range ms {
			var bv, nv []float64
			for _, f := range bf[cg] {
				bv = append(bv, m.value(f))
			}
			for _, f := range nf[cg] {
				nv = append(nv, m.value(f))
			}
			d := delta(cg+"/"+m.Name, m, bv, nv)
			if d.Verdict == "worse" {
				p.Regression = true
			}
			p.Deltas = append(p.Deltas, d)
		}
	}
	return p
}

func delta(name string, m Metric, base, new []float64) Delta {
	d := Delta{Metric: name, Unit: m.Unit, Base: mean(base), New: mean(new), N: [2]int{len(base), len(new)}, P: -1, Verdict: "~"}
	d.Delta = d.New - d.Base
	if d.Base != 0 {
		d.Rel = d.Delta / math.Abs(d.Base)
	}
	big := math.Abs(d.Delta) > m.Abs && (d.Base == 0 && d.Delta != 0 || math.Abs(d.Rel) > m.Rel)
	if len(base) >= 2 && len(new) >= 2 {
		d.P = MannWhitneyP(base, new)
		big = big && d.P < Alpha
	}
	if big {
		if (d.Delta < 0) == m.LowerBetter {
			d.Verdict = "better"
		} else {
			d.Verdict = "worse"
		}
	}
	return d
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// MannWhitneyP is the two-sided p of the Mann-Whitney U test of a against
// b: exact when neither has ties and both have at most 50 values (as
// benchstat does for small samples), else the normal approximation with a
// tie correction.
func MannWhitneyP(a, b []float64) float64 {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return 1
	}
	type v struct {
		x float64
		a bool
	}
	all := make([]v, 0, n+m)
	for _, x := range a {
		all = append(all, v{x, true})
	}
	for _, x := range b {
		all = append(all, v{x, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].x < all[j].x })
	ranks := make([]float64, len(all))
	ties := false
	tieSum := 0.0
	for i := 0; i < len(all); {
		j := i
		for j+1 < len(all) && all[j+1].x == all[i].x {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[k] = r
		}
		if t := float64(j - i + 1); t > 1 {
			ties = true
			tieSum += t*t*t - t
		}
		i = j + 1
	}
	ra := 0.0
	for i, x := range all {
		if x.a {
			ra += ranks[i]
		}
	}
	u := ra - float64(n*(n+1))/2
	umin := math.Min(u, float64(n*m)-u)
	if !ties && n <= 50 && m <= 50 {
		// P(U <= umin), doubled, from the exact distribution.
		counts := uCounts(n, m)
		total, below := 0.0, 0.0
		for k, c := range counts {
			total += c
			if float64(k) <= umin {
				below += c
			}
		}
		return math.Min(1, 2*below/total)
	}
	N := float64(n + m)
	mu := float64(n*m) / 2
	sigma := math.Sqrt(float64(n*m) / 12 * ((N + 1) - tieSum/(N*(N-1))))
	if sigma == 0 {
		return 1
	}
	z := (math.Abs(u-mu) - 0.5) / sigma
	return math.Min(1, math.Erfc(z/math.Sqrt2))
}

// uCounts returns, for sizes n and m without ties, how many orderings give
// each value of U (0..n*m).
func uCounts(n, m int) []float64 {
	// f[i][j] is the distribution for sizes i and j.
	f := make([][][]float64, n+1)
	for i := range f {
		f[i] = make([][]float64, m+1)
		for j := range f[i] {
			if i == 0 || j == 0 {
				f[i][j] = []float64{1}
				continue
			}
			d := make([]float64, i*j+1)
			for u, c := range f[i-1][j] { // the largest value is from a: it beats all j of b
				d[u+j] += c
			}
			for u, c := range f[i][j-1] {
				d[u] += c
			}
			f[i][j] = d
		}
	}
	return f[n][m]
}

// Formats of WriteComparison.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
	FormatJSON     = "json"
	FormatBench    = "bench"
)

// WriteComparison writes c in format: text (a table), markdown (for a pull
// request comment), json, or bench (the base and new runs in Go benchmark
// format, for benchstat: use WriteBench per side instead).
func WriteComparison(w io.Writer, c Comparison, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	case FormatText, FormatMarkdown:
	default:
		return fmt.Errorf("format %q: want text, markdown, json or bench", format)
	}
	md := format == FormatMarkdown
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cells ...string) {
		if md {
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		} else {
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	for _, p := range c.Pairs {
		mark := ""
		if p.Regression {
			mark = " (REGRESSION)"
		}
		if md {
			fmt.Fprintf(w, "\n### %s%s\n\npassed: base %d/%d, new %d/%d\n\n", p.Key, mark, p.Passed[0], p.Runs[0], p.Passed[1], p.Runs[1])
			row("metric", "base", "new", "delta", "p", "")
			row("---", "---:", "---:", "---:", "---:", "---")
		} else {
			tw.Flush()
			fmt.Fprintf(w, "\n%s%s: passed base %d/%d, new %d/%d\n", p.Key, mark, p.Passed[0], p.Runs[0], p.Passed[1], p.Runs[1])
			row("  metric", "base", "new", "delta", "p", "")
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
		for _, d := range p.Deltas {
			pv := "-"
			if d.P >= 0 {
				pv = fmt.Sprintf("%.3f", d.P)
			}
			name := d.Metric
			if !md {
				name = "  " + name
			}
			rel := fmt.Sprintf("%+.1f%%", 100*d.Rel)
			if d.Base == 0 && d.Delta != 0 {
				rel = "from 0"
			}
			row(name, num(d.Base, d.Unit), num(d.New, d.Unit), rel, pv, d.Verdict)
		}
		tw.Flush()
	}
	for _, k := range c.OnlyBase {
		fmt.Fprintf(w, "\nonly in base: %s\n", k)
	}
	for _, k := range c.OnlyNew {
		fmt.Fprintf(w, "\nonly in new: %s\n", k)
	}
	fmt.Fprintf(w, "\n%d pair(s), %d regression(s)\n", len(c.Pairs), c.Regressions)
	return nil
}

func num(v float64, unit string) string {
	switch unit {
	case "ns":
		return fmt.Sprintf("%.0fµs", v/1000)
	case "ms":
		return fmt.Sprintf("%.1fms", v)
	case "pct":
		return fmt.Sprintf("%.2f%%", v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// WriteBench writes recs in Go benchmark format, one line per run and
// cgroup, so that benchstat can compare two such files, or project one
// (benchstat -col /scheduler compares schedulers):
//
//	BenchmarkTestDemo/topology=1n1l2c1t/scheduler=scx_simple/profile=default/cgroup=cg_0 1 1.02 spread-pct 999475 p99_wake-ns ...
func WriteBench(w io.Writer, recs []Record) error {
	ms := Metrics()
	for _, r := range recs {
		if r.Result == nil {
			continue
		}
		for _, cg := range r.Result.Cgroups {
			f := cgroupFigures{spread: cg.SpreadPct, p99: cg.P99WakeNs, gap: cg.MaxGapMs, rate: cg.MeanWorkRate, offCPU: cg.MeanOffCPUPct, migr: cg.MigrationRatio}
			name := strings.Map(func(r rune) rune {
				if r == ' ' {
					return '_'
				}
				return r
			}, fmt.Sprintf("Benchmark%s/topology=%s/scheduler=%s/profile=%s/cgroup=%s", r.Test, r.Topology, r.Scheduler, orDefault(r.Profile), cg.Name))
			var b strings.Builder
			fmt.Fprintf(&b, "%s 1", name)
			for _, m := range ms {
				fmt.Fprintf(&b, " %g %s-%s", m.value(f), m.Name, strings.ReplaceAll(m.Unit, "/", "_per_"))
			}
			if _, err := fmt.Fprintln(w, b.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}
