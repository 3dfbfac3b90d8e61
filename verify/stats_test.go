package verify

import (
	"math"
	"slices"
	"testing"
)

func approx(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestMeanStddevCV(t *testing.T) {
	for _, tc := range []struct {
		name           string
		xs             []float64
		mean, std, cov float64
	}{
		// sum 40 / 8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32;
		// 32/8 = 4; sqrt 4 = 2; cv = 2/5 = 0.4.
		{"textbook", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, 2, 0.4},
		// mean 200; deviations ±100; (10000+10000)/2 = 10000; sqrt = 100;
		// cv = 100/200 = 0.5.
		{"two", []float64{100, 300}, 200, 100, 0.5},
		// one value: no deviation.
		{"one", []float64{7}, 7, 0, 0},
		// mean 0: cv defined as 0.
		{"zeros", []float64{0, 0, 0}, 0, 0, 0},
		{"empty", nil, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mean(tc.xs); !approx(got, tc.mean) {
				t.Errorf("mean = %v, want %v", got, tc.mean)
			}
			if got := stddev(tc.xs); !approx(got, tc.std) {
				t.Errorf("stddev = %v, want %v", got, tc.std)
			}
			if got := cv(tc.xs); !approx(got, tc.cov) {
				t.Errorf("cv = %v, want %v", got, tc.cov)
			}
		})
	}
}

func seq(lo, hi float64) []float64 {
	var s []float64
	for x := lo; x <= hi; x++ {
		s = append(s, x)
	}
	return s
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		pct  int
		want float64
	}{
		// n=100: rank = ceil(99*100/100) = 99 -> 99th smallest = 99.
		{"p99 of 1..100", seq(1, 100), 99, 99},
		// n=10: rank = ceil(9.9) = 10 -> the largest.
		{"p99 of 1..10", seq(1, 10), 99, 10},
		// n=101: rank = ceil(99.99) = 100 -> 100.
		{"p99 of 1..101", seq(1, 101), 99, 100},
		// n=200: rank = ceil(198) = 198 -> 198.
		{"p99 of 1..200", seq(1, 200), 99, 198},
		// n=1: rank = ceil(0.99) = 1.
		{"single", []float64{42}, 99, 42},
		// unsorted; n=3: rank = ceil(2.97) = 3 -> max = 5.
		{"unsorted", []float64{5, 1, 3}, 99, 5},
		// n=4: p50 rank = ceil(2) = 2 -> 2.
		{"p50", []float64{4, 3, 2, 1}, 50, 2},
		// p100 -> rank n.
		{"p100", []float64{4, 3, 2, 1}, 100, 4},
		{"empty", nil, 99, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.xs)
			if got := percentile(tc.xs, tc.pct); got != tc.want {
				t.Errorf("percentile = %v, want %v", got, tc.want)
			}
			if !slices.Equal(in, tc.xs) {
				t.Errorf("input modified: %v", tc.xs)
			}
		})
	}
}

func TestMinMax(t *testing.T) {
	for _, tc := range []struct {
		xs     []float64
		lo, hi int
	}{
		{[]float64{3, 1, 4, 1, 5}, 1, 4}, // first of the tied 1s
		{[]float64{2, 2}, 0, 0},
		{nil, -1, -1},
	} {
		if lo, hi := minMax(tc.xs); lo != tc.lo || hi != tc.hi {
			t.Errorf("minMax(%v) = %d, %d; want %d, %d", tc.xs, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, "-"}, {[]int{3}, "3"}, {[]int{0, 1, 2, 3}, "0-3"}, {[]int{0, 1, 2, 3, 6, 8, 9}, "0-3,6,8-9"},
	} {
		if got := cpuList(tc.in); got != tc.want {
			t.Errorf("cpuList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
