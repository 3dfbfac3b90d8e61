package verify

import (
	"math"
	"strconv"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

// fnum formats a limit or factor compactly: at most three decimals, no
// trailing zeros ("15", "333.333", "0.5").
func fnum(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// withUnit joins a number and its unit: "15%", "2000 ms", "0.3".
func withUnit(v float64, unit string) string {
	switch unit {
	case "":
		return fnum(v)
	case "%":
		return fnum(v) + "%"
	}
	return fnum(v) + " " + unit
}

// fdur formats nanoseconds as a rounded duration ("12.346ms").
func fdur(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		d = d.Round(time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}

// cpuList formats a CPU set as ranges: "0-3,6,8-9"; "-" when empty.
func cpuList(cpus []int) string {
	if len(cpus) == 0 {
		return "-"
	}
	return topology.FormatList(cpus)
}
