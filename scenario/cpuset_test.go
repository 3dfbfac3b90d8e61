package scenario

import (
	"math"
	"slices"
	"strings"
	"testing"
)

type resolveCase struct {
	c        Cpuset
	cpus     []int
	mems     []int
	errMatch string // non-empty: Resolve must fail with an error containing it
}

func checkResolve(t *testing.T, env *Env, cases []resolveCase) {
	t.Helper()
	for _, tc := range cases {
		cpus, mems, err := tc.c.Resolve(env)
		name := tc.c.String()
		if tc.errMatch != "" {
			if err == nil {
				t.Errorf("%s: Resolve = %v, %v; want an error containing %q", name, cpus, mems, tc.errMatch)
			} else if !strings.Contains(err.Error(), tc.errMatch) {
				t.Errorf("%s: error %q; want it to contain %q", name, err, tc.errMatch)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.Equal(cpus, tc.cpus) || !slices.Equal(mems, tc.mems) {
			t.Errorf("%s: Resolve = cpus %v mems %v; want cpus %v mems %v", name, cpus, mems, tc.cpus, tc.mems)
		}
		for _, c := range cpus {
			if !slices.Contains(env.CPUs, c) {
				t.Errorf("%s: CPU %d is not usable (%v)", name, c, env.CPUs)
			}
		}
	}
}

func TestResolve1n2l2c1t(t *testing.T) {
	// LLC 0 = CPUs 0-1, LLC 1 = CPUs 2-3, one node.
	env := testEnv(t, "1n2l2c1t")
	nan := math.NaN()
	checkResolve(t, env, []resolveCase{
		{c: Cpuset{}, cpus: []int{0, 1, 2, 3}},
		{c: LLCs(0), cpus: []int{0, 1}},
		{c: LLCs(1), cpus: []int{2, 3}},
		{c: LLCs(1, 0), cpus: []int{0, 1, 2, 3}},
		{c: LLCs(1, 1), cpus: []int{2, 3}},
		{c: LLCs(2), errMatch: "LLC 2 does not exist (the guest has 2)"},
		{c: LLCs(-1), errMatch: "LLC -1 does not exist"},
		{c: LLCs(), errMatch: "no usable CPUs"},
		{c: Nodes(0), cpus: []int{0, 1, 2, 3}, mems: []int{0}},
		{c: Nodes(0, 0), cpus: []int{0, 1, 2, 3}, mems: []int{0}},
		{c: Nodes(1), errMatch: "NUMA node 1 does not exist (the guest has 1)"},
		{c: Nodes(), errMatch: "no usable CPUs"},
		{c: Range(0, 0.5), cpus: []int{0, 1}},
		{c: Range(0.5, 1), cpus: []int{2, 3}},
		{c: Range(0, 1), cpus: []int{0, 1, 2, 3}},
		{c: Range(0, 0.1), cpus: []int{0}},      // at least one CPU
		{c: Range(0.9, 1), cpus: []int{3}},      // at least one CPU
		{c: Range(0.3, 0.6), cpus: []int{1, 2}}, // floor(1.2), ceil(2.4)
		{c: Range(0.25, 0.5), cpus: []int{1}},
		{c: Range(-0.1, 1), errMatch: "want 0 <= from < to <= 1"},
		{c: Range(0, 1.1), errMatch: "want 0 <= from < to <= 1"},
		{c: Range(0.5, 0.5), errMatch: "want 0 <= from < to <= 1"},
		{c: Range(0.6, 0.4), errMatch: "want 0 <= from < to <= 1"},
		{c: Range(nan, 1), errMatch: "want 0 <= from < to <= 1"},
		{c: Range(0, nan), errMatch: "want 0 <= from < to <= 1"},
		{c: Disjoint(0, 1), cpus: []int{0, 1, 2, 3}},
		{c: Disjoint(0, 2), cpus: []int{0, 1}},
		{c: Disjoint(1, 2), cpus: []int{2, 3}},
		{c: Disjoint(0, 3), cpus: []int{0, 1}}, // 4 = 2+1+1: the first part is larger
		{c: Disjoint(1, 3), cpus: []int{2}},
		{c: Disjoint(2, 3), cpus: []int{3}},
		{c: Disjoint(3, 4), cpus: []int{3}},
		{c: Disjoint(2, 2), errMatch: "want 0 <= i < n <= 4 usable CPUs"},
		{c: Disjoint(-1, 2), errMatch: "want 0 <= i < n <= 4 usable CPUs"},
		{c: Disjoint(0, 0), errMatch: "want 0 <= i < n <= 4 usable CPUs"},
		{c: Disjoint(0, 5), errMatch: "want 0 <= i < n <= 4 usable CPUs"},
		{c: Overlap(0, 2, 0), cpus: []int{0, 1}},
		{c: Overlap(0, 2, 0.5), cpus: []int{0, 1, 2}},
		{c: Overlap(1, 2, 0.5), cpus: []int{1, 2, 3}},
		{c: Overlap(1, 4, 1), cpus: []int{0, 1, 2}},
		{c: Overlap(0, 2, 1), cpus: []int{0, 1, 2, 3}},
		{c: Overlap(1, 4, 0.01), cpus: []int{0, 1, 2}}, // widened by at least one CPU
		{c: Overlap(0, 2, 1.5), errMatch: "overlap fraction must be within [0, 1]"},
		{c: Overlap(0, 2, -0.1), errMatch: "overlap fraction must be within [0, 1]"},
		{c: Overlap(0, 2, nan), errMatch: "overlap fraction must be within [0, 1]"},
		{c: Overlap(2, 2, 0.1), errMatch: "want 0 <= i < n"},
		{c: Overlap(0, 5, 0.1), errMatch: "want 0 <= i < n"},
		{c: CPUs(3, 1, 1), cpus: []int{1, 3}},
		{c: CPUs(0), cpus: []int{0}},
		{c: CPUs(4), errMatch: "CPU 4 is not a usable CPU of the guest ([0 1 2 3])"},
		{c: CPUs(1, -1), errMatch: "CPU -1 is not a usable CPU"},
		{c: CPUs(), errMatch: "no usable CPUs"},
	})
}

func TestResolve2n4l1c2t(t *testing.T) {
	// LLC l = CPUs 2l and 2l+1 (SMT siblings); node 0 = LLCs 0-1 = CPUs
	// 0-3, node 1 = LLCs 2-3 = CPUs 4-7.
	env := testEnv(t, "2n4l1c2t")
	checkResolve(t, env, []resolveCase{
		{c: Cpuset{}, cpus: []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{c: LLCs(3), cpus: []int{6, 7}},
		{c: LLCs(0, 2), cpus: []int{0, 1, 4, 5}},
		{c: LLCs(4), errMatch: "LLC 4 does not exist (the guest has 4)"},
		{c: Nodes(0), cpus: []int{0, 1, 2, 3}, mems: []int{0}},
		{c: Nodes(1), cpus: []int{4, 5, 6, 7}, mems: []int{1}},
		{c: Nodes(1, 0), cpus: []int{0, 1, 2, 3, 4, 5, 6, 7}, mems: []int{0, 1}},
		{c: Nodes(2), errMatch: "NUMA node 2 does not exist (the guest has 2)"},
		{c: Nodes(-1), errMatch: "NUMA node -1 does not exist"},
		{c: Range(0, 0.25), cpus: []int{0, 1}},
		{c: Range(0.5, 1), cpus: []int{4, 5, 6, 7}},
		{c: Disjoint(0, 3), cpus: []int{0, 1, 2}}, // 8 = 3+3+2
		{c: Disjoint(1, 3), cpus: []int{3, 4, 5}},
		{c: Disjoint(2, 3), cpus: []int{6, 7}},
		{c: Disjoint(7, 8), cpus: []int{7}},
		{c: Disjoint(0, 9), errMatch: "want 0 <= i < n <= 8 usable CPUs"},
		{c: Overlap(1, 4, 0.5), cpus: []int{1, 2, 3, 4}},
		{c: Overlap(0, 4, 0.5), cpus: []int{0, 1, 2}},
		{c: Overlap(3, 4, 0.5), cpus: []int{5, 6, 7}},
		{c: CPUs(7, 0), cpus: []int{0, 7}},
		{c: CPUs(8), errMatch: "CPU 8 is not a usable CPU"},
	})
}

// TestResolveSparseCPUs: usable CPUs that are not 0..n-1 (CPUs offline).
// LLCs and Nodes keep only their usable CPUs; the fractional cpusets split
// the usable list.
func TestResolveSparseCPUs(t *testing.T) {
	t.Run("2n4l1c2t without 1 and 4", func(t *testing.T) {
		env := testEnv(t, "2n4l1c2t", 0, 2, 3, 5, 6, 7)
		checkResolve(t, env, []resolveCase{
			{c: Cpuset{}, cpus: []int{0, 2, 3, 5, 6, 7}},
			{c: LLCs(0), cpus: []int{0}},
			{c: LLCs(2), cpus: []int{5}},
			{c: LLCs(0, 2), cpus: []int{0, 5}},
			{c: LLCs(1), cpus: []int{2, 3}},
			{c: Nodes(1), cpus: []int{5, 6, 7}, mems: []int{1}},
			{c: Range(0, 0.5), cpus: []int{0, 2, 3}},
			{c: Range(0.5, 1), cpus: []int{5, 6, 7}},
			{c: Disjoint(1, 2), cpus: []int{5, 6, 7}},
			{c: Disjoint(1, 4), cpus: []int{3, 5}}, // 6 = 2+2+1+1
			{c: Disjoint(3, 4), cpus: []int{7}},
			{c: Disjoint(0, 7), errMatch: "want 0 <= i < n <= 6 usable CPUs"},
			{c: Overlap(0, 3, 0.5), cpus: []int{0, 2, 3}},
			{c: CPUs(5), cpus: []int{5}},
			{c: CPUs(4), errMatch: "CPU 4 is not a usable CPU of the guest ([0 2 3 5 6 7])"},
		})
	})
	t.Run("1n2l2c1t with LLC 0 offline", func(t *testing.T) {
		env := testEnv(t, "1n2l2c1t", 2, 3)
		checkResolve(t, env, []resolveCase{
			{c: LLCs(0), errMatch: "no usable CPUs"},
			{c: LLCs(1), cpus: []int{2, 3}},
			{c: LLCs(0, 1), cpus: []int{2, 3}},
			{c: Nodes(0), cpus: []int{2, 3}, mems: []int{0}},
			{c: Range(0, 0.5), cpus: []int{2}},
			{c: Disjoint(1, 2), cpus: []int{3}},
			{c: Disjoint(0, 3), errMatch: "want 0 <= i < n <= 2 usable CPUs"},
			{c: CPUs(0), errMatch: "CPU 0 is not a usable CPU"},
		})
	})
	t.Run("no usable CPUs", func(t *testing.T) {
		env := testEnv(t, "1n1l2c1t")
		env.CPUs = []int{}
		checkResolve(t, env, []resolveCase{
			{c: LLCs(0), errMatch: "no usable CPUs"},
			{c: Range(0, 1), errMatch: "no usable CPUs"},
			{c: Disjoint(0, 1), errMatch: "want 0 <= i < n <= 0"},
		})
	})
}

// TestResolveRangeRounding: fractions whose product with the CPU count is
// an integer give exactly that many CPUs, floating-point error or not
// (0.28*25 is 7.000000000000001).
func TestResolveRangeRounding(t *testing.T) {
	env := testEnv(t, "1n1l25c1t")
	for _, tc := range []struct {
		from, to float64
		want     int
	}{{0, 0.28, 7}, {0, 0.56, 14}, {0.28, 0.56, 7}, {0, 0.2, 5}, {0, 0.21, 6}} {
		cpus, _, err := Range(tc.from, tc.to).Resolve(env)
		if err != nil || len(cpus) != tc.want {
			t.Errorf("Range(%g, %g) on 25 CPUs = %v, %v; want %d CPUs", tc.from, tc.to, cpus, err, tc.want)
		}
	}
	env = testEnv(t, "1n1l50c1t")
	cpus, _, err := Range(0, 0.58).Resolve(env) // 28.999999999999996
	if err != nil || len(cpus) != 29 {
		t.Errorf("Range(0, 0.58) on 50 CPUs = %v, %v; want 29 CPUs", cpus, err)
	}
}

// TestResolveProperties checks, over many shapes and parameters, that every
// cpuset resolves to a sorted, duplicate-free, non-empty set of usable CPUs,
// that the Disjoint parts cover the CPUs exactly once, and that an Overlap
// part contains its Disjoint part.
func TestResolveProperties(t *testing.T) {
	envs := []*Env{
		testEnv(t, "1n1l1c1t"), testEnv(t, "1n1l2c1t"), testEnv(t, "1n2l2c1t"),
		testEnv(t, "1n1l7c1t"), testEnv(t, "2n4l1c2t"), testEnv(t, "2n4l1c2t", 1, 2, 3, 5, 7),
	}
	fracs := []float64{0, 0.1, 0.2, 0.25, 1.0 / 3, 0.5, 0.6, 2.0 / 3, 0.75, 0.9, 1}
	for _, env := range envs {
		n := len(env.CPUs)
		check := func(c Cpuset) []int {
			cpus, _, err := c.Resolve(env)
			if err != nil {
				t.Errorf("%s on %s %v: %v", c, env.Topology, env.CPUs, err)
				return nil
			}
			if len(cpus) == 0 || !slices.IsSorted(cpus) || len(slices.Compact(slices.Clone(cpus))) != len(cpus) {
				t.Errorf("%s on %v: %v is not a sorted non-empty set", c, env.CPUs, cpus)
			}
			for _, cpu := range cpus {
				if !slices.Contains(env.CPUs, cpu) {
					t.Errorf("%s on %v: CPU %d not usable", c, env.CPUs, cpu)
				}
			}
			return cpus
		}
		for _, from := range fracs {
			for _, to := range fracs {
				if from < to {
					check(Range(from, to))
				}
			}
		}
		for parts := 1; parts <= n; parts++ {
			var all []int
			for i := 0; i < parts; i++ {
				d := check(Disjoint(i, parts))
				all = append(all, d...)
				for _, f := range fracs {
					o := check(Overlap(i, parts, f))
					for _, c := range d {
						if !slices.Contains(o, c) {
							t.Errorf("Overlap(%d, %d, %g) = %v lacks %d of Disjoint %v", i, parts, f, o, c, d)
						}
					}
				}
			}
			if !slices.Equal(all, env.CPUs) {
				t.Errorf("Disjoint(*, %d) on %v: parts concatenate to %v", parts, env.CPUs, all)
			}
		}
	}
}

func TestPart(t *testing.T) {
	for size := 0; size <= 20; size++ {
		for n := 1; n <= size+3; n++ {
			next := 0
			prev := size + 1
			for i := 0; i < n; i++ {
				lo, hi := part(size, i, n)
				if lo != next {
					t.Fatalf("part(%d, %d, %d) = [%d, %d): want it to start at %d", size, i, n, lo, hi, next)
				}
				w := hi - lo
				if w < size/n || w > size/n+1 {
					t.Errorf("part(%d, %d, %d) has %d items; want %d or %d", size, i, n, w, size/n, size/n+1)
				}
				if w > prev {
					t.Errorf("part(%d, %d, %d) has %d items, more than part %d (%d): the larger parts come first", size, i, n, w, i-1, prev)
				}
				prev, next = w, hi
			}
			if next != size {
				t.Errorf("parts of %d items in %d end at %d", size, n, next)
			}
		}
	}
	// Sizes that divide.
	for i, want := range [][2]int{{0, 3}, {3, 6}, {6, 9}} {
		if lo, hi := part(9, i, 3); lo != want[0] || hi != want[1] {
			t.Errorf("part(9, %d, 3) = [%d, %d); want %v", i, lo, hi, want)
		}
	}
	// Sizes that don't: 10 = 4+3+3.
	for i, want := range [][2]int{{0, 4}, {4, 7}, {7, 10}} {
		if lo, hi := part(10, i, 3); lo != want[0] || hi != want[1] {
			t.Errorf("part(10, %d, 3) = [%d, %d); want %v", i, lo, hi, want)
		}
	}
}

func TestCpusetString(t *testing.T) {
	for c, want := range map[*Cpuset]string{
		{}:                    "all",
		ptr(LLCs(0, 1)):       "LLCs[0 1]",
		ptr(Nodes(1)):         "Nodes[1]",
		ptr(Range(0, 0.5)):    "Range(0,0.5)",
		ptr(Disjoint(1, 2)):   "Disjoint(1/2)",
		ptr(Overlap(0, 3, 1)): "Overlap(0/3,1)",
		ptr(CPUs(3)):          "CPUs[3]",
	} {
		if got := c.String(); got != want {
			t.Errorf("String() = %q; want %q", got, want)
		}
		if c.IsZero() != (want == "all") {
			t.Errorf("%s: IsZero() = %v", want, c.IsZero())
		}
	}
}

func ptr[T any](v T) *T { return &v }
