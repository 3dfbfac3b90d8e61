package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// WriteHTML writes one self-contained HTML page of recs: no script and no
// external resource, charts as inline SVG. It has a summary table (each
// failure linking to its guest log), then per top-level test the runs side
// by side: off-CPU share per worker, fairness spread, longest gap,
// migrations, the wake-latency distribution (CDF), and the host-side
// monitor's per-CPU nr_running and local DSQ depth over time with the
// violation window shaded.
func WriteHTML(w io.Writer, recs []Record) error {
	sortRecords(recs)
	page := htmlPage{Generated: time.Now().UTC().Format(time.RFC3339)}
	groups := map[string]*htmlGroup{}
	var order []string
	for i, r := range recs {
		run := htmlRun{Rec: r, Label: runLabel(r), LogID: fmt.Sprintf("log-%d", i), Result: "PASS"}
		if !r.Passed {
			run.Result = "FAIL"
			page.Failed++
		}
		page.Runs = append(page.Runs, run)
		top, _, _ := strings.Cut(r.Test, "/")
		g := groups[top]
		if g == nil {
			g = &htmlGroup{Name: top}
			groups[top] = g
			order = append(order, top)
		}
		g.runs = append(g.runs, run)
	}
	for _, name := range order {
		g := groups[name]
		g.Charts = groupCharts(g.runs)
		page.Groups = append(page.Groups, *g)
	}
	return htmlTemplate.Execute(w, page)
}

type htmlPage struct {
	Generated string
	Runs      []htmlRun
	Failed    int
	Groups    []htmlGroup
}

type htmlRun struct {
	Rec    Record
	Label  string
	LogID  string
	Result string
}

type htmlGroup struct {
	Name   string
	Charts []template.HTML
	runs   []htmlRun
}

// runLabel names a run in a chart's legend: its subtest and scheduler.
func runLabel(r Record) string {
	sub := r.Test
	if _, rest, ok := strings.Cut(r.Test, "/"); ok {
		sub = rest
	}
	l := sub
	if !strings.Contains(strings.ToLower(sub), strings.ToLower(r.Scheduler)) {
		l += " · " + r.Scheduler
	}
	if r.Profile != "" && r.Profile != "default" {
		l += " [" + r.Profile + "]"
	}
	return l
}

func groupCharts(runs []htmlRun) []template.HTML {
	var out []template.HTML
	// Bar charts over (run, cgroup).
	type cgBar struct {
		title, unit string
		value       func(cg cgroupOf) float64
	}
	var cats []string
	var cgs []cgroupOf
	for _, r := range runs {
		if r.Rec.Result == nil {
			continue
		}
		for _, cg := range r.Rec.Result.Cgroups {
			cats = append(cats, r.Label+" / "+cg.Name)
			cgs = append(cgs, cgroupOf{cg.SpreadPct, cg.MaxGapMs, float64(cg.Migrations)})
		}
	}
	if len(cats) > 0 {
		for _, b := range []cgBar{
			{"Fairness spread (max − min off-CPU %) per cgroup", "%", func(c cgroupOf) float64 { return c.spread }},
			{"Longest scheduling gap per cgroup", "ms", func(c cgroupOf) float64 { return c.gap }},
			{"Migrations per cgroup", "", func(c cgroupOf) float64 { return c.migrations }},
		} {
			var vals []float64
			for _, c := range cgs {
				vals = append(vals, b.value(c))
			}
			out = append(out, barChart(b.title, b.unit, cats, []barSeries{{Name: "", Values: vals}}))
		}
	}
	// Off-CPU share per worker: one bar per worker, grouped by run/cgroup.
	var wcats []string
	var wser []barSeries
	maxW := 0
	for _, r := range runs {
		if r.Rec.Result == nil {
			continue
		}
		for _, cg := range r.Rec.Result.Cgroups {
			maxW = max(maxW, len(cg.PerWorker))
		}
	}
	if maxW > 0 {
		wser = make([]barSeries, maxW)
		for i := range wser {
			wser[i].Name = fmt.Sprintf("worker %d", i)
		}
		for _, r := range runs {
			if r.Rec.Result == nil {
				continue
			}
			for _, cg := range r.Rec.Result.Cgroups {
				wcats = append(wcats, r.Label+" / "+cg.Name)
				for i := range wser {
					v := math.NaN()
					if i < len(cg.PerWorker) {
						v = cg.PerWorker[i].OffCPUPct
					}
					wser[i].Values = append(wser[i].Values, v)
				}
			}
		}
		out = append(out, barChart("Off-CPU share per worker", "%", wcats, wser))
	}
	// Wake latency CDF per run, all workers pooled.
	var cdf []lineSeries
	for _, r := range runs {
		if r.Rec.Result == nil {
			continue
		}
		var ns []float64
		for _, cg := range r.Rec.Result.Cgroups {
			for _, w := range cg.PerWorker {
				for _, v := range w.WakeNs {
					ns = append(ns, float64(v)/1e3)
				}
			}
		}
		if len(ns) == 0 {
			continue
		}
		sort.Float64s(ns)
		s := lineSeries{Name: r.Label}
		for i, v := range ns {
			s.X = append(s.X, v)
			s.Y = append(s.Y, float64(i+1)/float64(len(ns)))
		}
		cdf = append(cdf, s)
	}
	if len(cdf) > 0 {
		out = append(out, lineChart("Wake latency distribution (CDF, all workers)", "latency (µs)", "fraction", cdf, nil))
	}
	// The monitor's series, one chart per run.
	for _, r := range runs {
		m := r.Rec.Samples
		if m == nil || len(m.Samples) == 0 {
			continue
		}
		n := 0
		for _, s := range m.Samples {
			n = max(n, len(s.CPUs))
		}
		var nr, dsq []lineSeries
		for c := 0; c < n; c++ {
			a, b := lineSeries{Name: fmt.Sprintf("cpu%d", c)}, lineSeries{Name: fmt.Sprintf("cpu%d", c)}
			for _, s := range m.Samples {
				if c < len(s.CPUs) {
					t := s.At.Seconds()
					a.X, a.Y = append(a.X, t), append(a.Y, float64(s.CPUs[c].NrRunning))
					b.X, b.Y = append(b.X, t), append(b.Y, float64(s.CPUs[c].LocalDSQ))
				}
			}
			nr, dsq = append(nr, a), append(dsq, b)
		}
		var shade [][2]float64
		if mr := r.Rec.Monitor; mr != nil {
			for _, f := range mr.Failures {
				if len(f.Window) > 0 {
					shade = append(shade, [2]float64{f.Window[0].At.Seconds(), f.Window[len(f.Window)-1].At.Seconds()})
				}
			}
		}
		out = append(out, lineChart("Monitor: nr_running per CPU — "+r.Label, "time (s)", "tasks", nr, shade))
		if m.HasScx && m.SchedExt { // EEVDF has no local DSQ
			out = append(out, lineChart("Monitor: local DSQ depth per CPU — "+r.Label, "time (s)", "tasks", dsq, shade))
		}
	}
	return out
}

type cgroupOf struct{ spread, gap, migrations float64 }

// palette are the series colors.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

type barSeries struct {
	Name   string
	Values []float64 // NaN: none
}

const (
	chartW, chartH = 760, 300
	padL, padR     = 70, 20
	padT, padB     = 30, 110
)

// barChart draws grouped bars: one group per category, one bar per series.
func barChart(title, unit string, cats []string, series []barSeries) template.HTML {
	var b strings.Builder
	hi := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				hi = math.Max(hi, v)
			}
		}
	}
	hi = niceCeil(hi)
	svgOpen(&b, title)
	yAxis(&b, 0, hi, unit)
	plotW := float64(chartW - padL - padR)
	gw := plotW / float64(max(len(cats), 1))
	bw := gw * 0.8 / float64(max(len(series), 1))
	for ci, c := range cats {
		x0 := float64(padL) + gw*float64(ci) + gw*0.1
		for si, s := range series {
			if ci >= len(s.Values) || math.IsNaN(s.Values[ci]) {
				continue
			}
			v := s.Values[ci]
			h := float64(chartH-padT-padB) * v / hi
			y := float64(chartH-padB) - h
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.3g%s</title></rect>`,
				x0+bw*float64(si), y, math.Max(bw-1, 1), h, palette[si%len(palette)], esc(c), esc(s.Name), v, esc(unit))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="end" transform="rotate(-35 %.1f %d)">%s</text>`,
			x0+gw*0.4, chartH-padB+14, x0+gw*0.4, chartH-padB+14, esc(shorten(c, 40)))
	}
	if len(series) > 1 {
		legend(&b, names(series))
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

type lineSeries struct {
	Name string
	X, Y []float64
}

// lineChart draws polylines on linear axes, with the x ranges of shade
// shaded (a monitor violation's window).
func lineChart(title, xlabel, ylabel string, series []lineSeries, shade [][2]float64) template.HTML {
	var b strings.Builder
	xlo, xhi, yhi := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range series {
		for i := range s.X {
			xlo, xhi, yhi = math.Min(xlo, s.X[i]), math.Max(xhi, s.X[i]), math.Max(yhi, s.Y[i])
		}
	}
	if xhi <= xlo {
		xhi = xlo + 1
	}
	yhi = niceCeil(yhi)
	svgOpen(&b, title)
	yAxis(&b, 0, yhi, "")
	fmt.Fprintf(&b, `<text x="14" y="%d" font-size="11" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`,
		padT+(chartH-padT-padB)/2, padT+(chartH-padT-padB)/2, esc(ylabel))
	px := func(x float64) float64 { return padL + (x-xlo)/(xhi-xlo)*float64(chartW-padL-padR) }
	py := func(y float64) float64 { return float64(chartH-padB) - y/yhi*float64(chartH-padT-padB) }
	for _, sh := range shade {
		fmt.Fprintf(&b, `<rect class="violation" x="%.1f" y="%d" width="%.1f" height="%d" fill="#d62728" fill-opacity="0.15"><title>monitor violation window</title></rect>`,
			px(sh[0]), padT, math.Max(px(sh[1])-px(sh[0]), 2), chartH-padT-padB)
	}
	for si, s := range series {
		var pts []string
		for i := range s.X {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[i]), py(s.Y[i])))
		}
		fmt.Fprintf(&b, `<polyline class="line" fill="none" stroke="%s" stroke-width="1.5" points="%s"><title>%s</title></polyline>`,
			palette[si%len(palette)], strings.Join(pts, " "), esc(s.Name))
	}
	for i := 0; i <= 4; i++ {
		x := xlo + (xhi-xlo)*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%.3g</text>`, px(x), chartH-padB+14, x)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`, padL+(chartW-padL-padR)/2, chartH-padB+30, esc(xlabel))
	var ns []string
	for _, s := range series {
		ns = append(ns, s.Name)
	}
	legend(&b, ns)
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func svgOpen(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>`, chartW, chartH)
	fmt.Fprintf(b, `<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>`, padL, esc(title))
}

func yAxis(b *strings.Builder, lo, hi float64, unit string) {
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		y := float64(chartH-padB) - float64(chartH-padT-padB)*float64(i)/4
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%.3g%s</text>`, padL-4, y+3, v, esc(unit))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/>`, padL, padL, padT, chartH-padB)
}

func legend(b *strings.Builder, names []string) {
	x := padL
	y := chartH - 12
	for i, n := range names {
		if n == "" {
			continue
		}
		n = shorten(n, 28)
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="10">%s</text>`,
			x, y-9, palette[i%len(palette)], x+13, y, esc(n))
		x += 20 + 6*len(n)
		if x > chartW-100 {
			break
		}
	}
}

func names(s []barSeries) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name)
	}
	return out
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func esc(s string) string { return template.HTMLEscapeString(s) }

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs": func(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) },
	"why":  firstUseful,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ktstr report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
tr.FAIL td.res{background:#f8d7da;font-weight:bold}tr.PASS td.res{background:#d4edda}
svg.chart{display:block;margin:1em 0;border:1px solid #eee}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px;max-height:40em}
</style></head><body>
<h1>ktstr report</h1>
<p>{{len .Runs}} run(s), {{.Failed}} failed. Generated {{.Generated}}.</p>
<h2>Summary</h2>
<table id="summary"><tr><th>result</th><th>kind</th><th>test</th><th>topology</th><th>scheduler</th><th>profile</th><th>kernel</th><th>accel</th><th>total</th><th>why</th></tr>
{{range .Runs}}<tr class="{{.Result}}"><td class="res">{{.Result}}</td><td>{{or .Rec.Kind "-"}}</td><td>{{.Rec.Test}}</td><td>{{.Rec.Topology}}</td><td>{{.Rec.Scheduler}}</td><td>{{.Rec.Profile}}</td><td>{{.Rec.Kernel}}</td><td>{{.Rec.Accel}}</td><td>{{secs .Rec.Total}}</td>
<td>{{if .Rec.Failure}}<a href="#{{.LogID}}">{{why .Rec.Failure}}</a>{{end}}</td></tr>
{{end}}</table>
{{range .Groups}}<h2>{{.Name}}</h2>
{{range .Charts}}{{.}}
{{end}}{{end}}
{{range .Runs}}{{if not .Rec.Passed}}<h3 id="{{.LogID}}">Guest log: {{.Rec.Test}} ({{.Rec.Scheduler}})</h3>
<pre>{{.Rec.Failure}}
{{range .Rec.Log}}{{.}}
{{end}}</pre>{{end}}{{end}}
</body></html>
`))
