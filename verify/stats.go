package verify

import (
	"math"
	"slices"
)

// Plain statistics helpers. None of them returns NaN or ±Inf for finite
// input, so every number they produce can travel in JSON.

// mean returns sum(xs) / n, or 0 when xs is empty.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// stddev returns the population standard deviation
// sqrt(sum((x_i - mean)^2) / n), or 0 when xs is empty.
func stddev(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := mean(xs)
	var s float64
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)))
}

// cv returns the coefficient of variation stddev(xs) / mean(xs), with the
// population standard deviation. It is 0 when xs is empty or its mean is 0
// (for the non-negative quantities checked here a zero mean means every
// value is 0: no variation).
func cv(xs []float64) float64 {
	m := mean(xs)
	if m == 0 {
		return 0
	}
	return stddev(xs) / m
}

// minMax returns the positions of the smallest and largest values of xs
// (the first one on ties), or -1, -1 when xs is empty.
func minMax(xs []float64) (lo, hi int) {
	lo, hi = -1, -1
	for i, x := range xs {
		if lo < 0 || x < xs[lo] {
			lo = i
		}
		if hi < 0 || x > xs[hi] {
			hi = i
		}
	}
	return lo, hi
}

// percentile returns the pct-th percentile of xs by nearest rank: sort a
// copy of xs ascending, rank = ceil(pct * n / 100) (computed in integers as
// (pct*n + 99) / 100, so no rounding error), clamped to 1..n, and return
// the rank-th value (1-based). It returns 0 when xs is empty; xs is not
// modified. pct is 1..100.
func percentile(xs []float64, pct int) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := (pct*n + 99) / 100
	rank = max(1, min(rank, n))
	return s[rank-1]
}
