package scenario

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAffinityInherit(t *testing.T) {
	env := testEnv(t, "1n1l2c1t")
	var a Affinity
	if !a.IsZero() || a.String() != "inherit" {
		t.Errorf("zero Affinity: IsZero %v, String %q", a.IsZero(), a)
	}
	for _, cpus := range [][]int{{0, 1}, nil} {
		if got, err := a.For(0, cpus, env); got != nil || err != nil {
			t.Errorf("inherit.For(0, %v) = %v, %v; want nil, nil", cpus, got, err)
		}
	}
}

func TestRandomAffinity(t *testing.T) {
	env := testEnv(t, "1n1l8c1t")
	cg := []int{1, 3, 4, 6, 7}
	a := RandomAffinity(2)
	if a.IsZero() || a.String() != "random(2)" {
		t.Errorf("RandomAffinity(2): IsZero %v, String %q", a.IsZero(), a)
	}
	seen := map[string]bool{}
	for i := 0; i < 32; i++ {
		got, err := a.For(i, cg, env)
		if err != nil {
			t.Fatalf("For(%d): %v", i, err)
		}
		if len(got) != 2 || !slices.IsSorted(got) || got[0] == got[1] {
			t.Errorf("For(%d) = %v: want 2 distinct CPUs, sorted", i, got)
		}
		for _, c := range got {
			if !slices.Contains(cg, c) {
				t.Errorf("For(%d) = %v: CPU %d is not the cgroup's (%v)", i, got, c, cg)
			}
		}
		again, _ := a.For(i, slices.Clone(cg), env)
		if !slices.Equal(got, again) {
			t.Errorf("For(%d) = %v, then %v: want the same CPUs for the same worker", i, got, again)
		}
		if g0, _ := a.forGen(i, 0, cg, env); !slices.Equal(g0, got) {
			t.Errorf("forGen(%d, 0) = %v; want For's %v", i, g0, got)
		}
		seen[fmt.Sprint(got)] = true
	}
	if len(seen) < 4 {
		t.Errorf("32 workers got only %d different pairs of 5 CPUs: %v", len(seen), seen)
	}
	if got := cg; !slices.Equal(got, []int{1, 3, 4, 6, 7}) {
		t.Errorf("For modified the cgroup's CPUs: %v", got)
	}

	// Each application (gen) draws anew, deterministically.
	changed := 0
	for i := 0; i < 8; i++ {
		g1, _ := a.forGen(i, 1, cg, env)
		g2, _ := a.forGen(i, 2, cg, env)
		g2again, _ := a.forGen(i, 2, cg, env)
		if !slices.Equal(g2, g2again) {
			t.Errorf("forGen(%d, 2) = %v, then %v", i, g2, g2again)
		}
		if !slices.Equal(g1, g2) {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("RandomAffinity draws the same CPUs on every application: a SetAffinity loop would change nothing")
	}

	all, err := RandomAffinity(5).For(3, cg, env)
	if err != nil || !slices.Equal(all, cg) {
		t.Errorf("RandomAffinity(5) of 5 CPUs = %v, %v; want all of them", all, err)
	}
	for _, tc := range []struct {
		a    Affinity
		cpus []int
		want string
	}{
		{RandomAffinity(0), cg, "want 1 to 5 CPUs"},
		{RandomAffinity(-1), cg, "want 1 to 5 CPUs"},
		{RandomAffinity(6), cg, "want 1 to 5 CPUs"},
		{RandomAffinity(1), nil, "the cgroup has no CPUs"},
	} {
		if got, err := tc.a.For(0, tc.cpus, env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s.For(0, %v) = %v, %v; want an error containing %q", tc.a, tc.cpus, got, err, tc.want)
		}
	}
}

func TestLLCAffinity(t *testing.T) {
	// 2n4l1c2t: LLC l holds CPUs 2l and 2l+1.
	env := testEnv(t, "2n4l1c2t")
	a := LLCAffinity()
	if a.IsZero() || a.String() != "llc" {
		t.Errorf("LLCAffinity: IsZero %v, String %q", a.IsZero(), a)
	}
	cg := []int{2, 3, 4, 5, 6} // LLCs 1, 2 and (partly) 3
	want := [][]int{{2, 3}, {4, 5}, {6}, {2, 3}, {4, 5}, {6}}
	for i, w := range want {
		got, err := a.For(i, cg, env)
		if err != nil || !slices.Equal(got, w) {
			t.Errorf("For(%d, %v) = %v, %v; want %v", i, cg, got, err, w)
		}
	}
	if got, err := a.For(5, []int{7}, env); err != nil || !slices.Equal(got, []int{7}) {
		t.Errorf("For(5, [7]) = %v, %v; want [7]", got, err)
	}
	if _, err := a.For(0, nil, env); err == nil || !strings.Contains(err.Error(), "the cgroup has no CPUs") {
		t.Errorf("For with no CPUs: %v; want the cgroup has no CPUs", err)
	}
}

func TestSingleCPU(t *testing.T) {
	env := testEnv(t, "1n1l8c1t")
	a := SingleCPU()
	if a.IsZero() || a.String() != "single" {
		t.Errorf("SingleCPU: IsZero %v, String %q", a.IsZero(), a)
	}
	cg := []int{4, 6, 7}
	for i, w := range []int{4, 6, 7, 4, 6, 7, 4} {
		got, err := a.For(i, cg, env)
		if err != nil || !slices.Equal(got, []int{w}) {
			t.Errorf("For(%d, %v) = %v, %v; want [%d]", i, cg, got, err, w)
		}
	}
	if _, err := a.For(0, []int{}, env); err == nil || !strings.Contains(err.Error(), "the cgroup has no CPUs") {
		t.Errorf("For with no CPUs: %v; want the cgroup has no CPUs", err)
	}
}

func TestExactAffinity(t *testing.T) {
	env := testEnv(t, "1n1l4c1t")
	a := ExactAffinity(3, 1)
	if a.IsZero() || a.String() != "exact[3 1]" {
		t.Errorf("ExactAffinity: IsZero %v, String %q", a.IsZero(), a)
	}
	for i := 0; i < 3; i++ {
		got, err := a.For(i, []int{0, 1, 2, 3}, env)
		if err != nil || !slices.Equal(got, []int{3, 1}) {
			t.Errorf("For(%d) = %v, %v; want [3 1]", i, got, err)
		}
		got[0] = 99 // a copy
	}
	// The cgroup's CPUs don't matter, not even when there are none.
	if got, err := a.For(0, nil, env); err != nil || !slices.Equal(got, []int{3, 1}) {
		t.Errorf("For(0, nil) = %v, %v; want [3 1]", got, err)
	}
	if _, err := ExactAffinity().For(0, []int{0}, env); err == nil || !strings.Contains(err.Error(), "no CPUs") {
		t.Errorf("ExactAffinity().For: %v; want an error", err)
	}
}
