package verify

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// windowCPUs is the most CPUs WindowTable shows.
const windowCPUs = 8

// WindowTable formats f.Window with FormatWindow, "" without a window: every
// CPU when the guest has at most 8, else the failure's CPUs (the first 8
// of them, with a line saying how many more there are).
func (f Failure) WindowTable() string {
	if len(f.Window) == 0 {
		return ""
	}
	var cpus []int
	if n := len(f.Window[0].CPUs); n > windowCPUs {
		cpus = f.CPUs
		if len(cpus) == 0 {
			cpus = []int{}
			for c := range windowCPUs {
				cpus = append(cpus, c)
			}
		}
	}
	more := 0
	if len(cpus) > windowCPUs {
		cpus, more = cpus[:windowCPUs], len(cpus)-windowCPUs
	}
	t := FormatWindow(f.Check, f.Window, cpus)
	if more > 0 {
		t += fmt.Sprintf("\n(%d more CPU(s) not shown)", more)
	}
	return t
}

// FormatWindow formats the samples of a monitor check's window as a small
// table: a legend line, then one row per sample (its time into the test)
// with one column per CPU of cpus (nil: every CPU). A cell is
// nr_running/local DSQ depth/rq clock, the clock "+" when it advanced
// since the row before, "=" when it did not, "-" when it went back; the
// first row, with no row before, has no clock mark. For a stall (check
// "stall") a cell adds the milliseconds the vCPU ran since the row before
// ("?" when unknown), for a fallback_rate or keep_last_rate failure the
// increase of that counter.
func FormatWindow(check string, window []MonitorSample, cpus []int) string {
	if len(window) == 0 {
		return ""
	}
	if cpus == nil {
		for c := range window[0].CPUs {
			cpus = append(cpus, c)
		}
	}
	legend := "nr_running/local DSQ/rq clock (+ advanced, = unchanged, - went back)"
	var extra func(a, b CPUSample) string
	switch check {
	case CheckStall:
		legend += "/vCPU ms ran"
		extra = func(a, b CPUSample) string {
			if a.VCPUTime == 0 || b.VCPUTime == 0 || b.VCPUTime < a.VCPUTime {
				return "?"
			}
			return fmt.Sprintf("%.0f", float64(b.VCPUTime-a.VCPUTime)/1e6)
		}
	case CheckFallbackRate:
		legend += "/fallback events"
		extra = func(a, b CPUSample) string { return counterDelta(a.Fallback, b.Fallback) }
	case CheckKeepLastRate:
		legend += "/keep-last events"
		extra = func(a, b CPUSample) string { return counterDelta(a.KeepLast, b.KeepLast) }
	}
	var b strings.Builder
	b.WriteString(legend + ", per CPU:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "time")
	for _, c := range cpus {
		fmt.Fprintf(tw, "\tCPU %d", c)
	}
	fmt.Fprintln(tw)
	for i, s := range window {
		fmt.Fprintf(tw, "%s s", fnum(s.At.Seconds()))
		for _, c := range cpus {
			if c < 0 || c >= len(s.CPUs) {
				fmt.Fprint(tw, "\t-")
				continue
			}
			x := s.CPUs[c]
			cell := fmt.Sprintf("%d/%d", x.NrRunning, x.LocalDSQ)
			if i > 0 && c < len(window[i-1].CPUs) {
				p := window[i-1].CPUs[c]
				switch {
				case x.Clock > p.Clock:
					cell += "/+"
				case x.Clock == p.Clock:
					cell += "/="
				default:
					cell += "/-"
				}
				if extra != nil {
					cell += "/" + extra(p, x)
				}
			}
			fmt.Fprint(tw, "\t"+cell)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

// counterDelta formats the increase of a cumulative counter, "?" when it
// went backwards.
func counterDelta(a, b uint64) string {
	if b < a {
		return "?"
	}
	return fmt.Sprint(b - a)
}
