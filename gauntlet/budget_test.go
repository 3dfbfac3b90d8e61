package gauntlet

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// bigInput has many candidates: 3 profiles × 2 kernels × 20 presets.
func bigInput() Input {
	return Input{
		Test: "TestBig", Scheduler: "scx_x", SchedExt: true,
		Profiles:    []Profile{{Name: "default"}, {Name: "a", Flags: []string{"a"}}, {Name: "a+b", Flags: []string{"a", "b"}}},
		Kernels:     []string{"6.12", "6.16"},
		Constraints: MergeConstraints(DefaultConstraints(), Constraints{MaxNumaNodes: 4}),
		Duration:    15 * time.Second,
		Host:        Host{Accel: "kvm", CPUs: 16, Overcommit: true},
	}
}

// chosenKeys returns the sorted keys of the variants that run.
func chosenKeys(vs []Variant) []string {
	var out []string
	for _, v := range vs {
		if v.Skip == "" {
			out = append(out, v.Key)
		}
	}
	slices.Sort(out)
	return out
}

func TestBudgetDeterministic(t *testing.T) {
	budget := 150 * time.Second
	a, b := Expand(bigInput()), Expand(bigInput())
	ra, rb := ApplyBudget(a, budget), ApplyBudget(b, budget)
	if ra != rb || !slices.Equal(chosenKeys(a), chosenKeys(b)) {
		t.Fatalf("two runs differ: %v / %v", ra, rb)
	}
	if ra.Chosen == 0 || ra.Chosen == ra.Candidates {
		t.Fatalf("budget chose %v: want a strict, non-empty subset", ra)
	}
	for seed := range uint64(5) {
		c := Expand(bigInput())
		r := rand.New(rand.NewPCG(seed, 1))
		r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		rc := ApplyBudget(c, budget)
		// Sums may differ in their last bits with another order.
		rc.Seconds, rc.CandidateSeconds = ra.Seconds, ra.CandidateSeconds
		if rc != ra || !slices.Equal(chosenKeys(c), chosenKeys(a)) {
			t.Errorf("shuffled (seed %d): %v, chose %v\nwant %v, %v", seed, rc, chosenKeys(c), ra, chosenKeys(a))
		}
	}
	if ra.Seconds > budget.Seconds() {
		t.Errorf("chose %v s over the budget %v", ra.Seconds, budget)
	}
}

func TestBudgetCoverage(t *testing.T) {
	vs := Expand(bigInput())
	var total time.Duration
	for _, v := range vs {
		total += v.Estimate
	}
	r := ApplyBudget(vs, total)
	if r.Features != r.CandidateFeatures {
		t.Errorf("a budget for everything covers %d of %d features", r.Features, r.CandidateFeatures)
	}
	covered := map[string]bool{}
	for _, v := range vs {
		if v.Skip == "" {
			for _, f := range v.Features {
				covered[f] = true
			}
		}
	}
	if len(covered) != r.CandidateFeatures {
		t.Errorf("the chosen variants cover %d features, report says %d", len(covered), r.CandidateFeatures)
	}
	// Once everything is covered the greedy stops: far fewer variants than
	// candidates.
	if r.Chosen >= r.Candidates/2 {
		t.Errorf("chose %d of %d: the greedy should stop at full coverage", r.Chosen, r.Candidates)
	}
	for _, v := range vs {
		if v.Skip != "" && v.Skip != "budget: not chosen within KTSTR_BUDGET_SECS="+budgetSecs(total) &&
			!strings.HasPrefix(v.Skip, "constraints: ") {
			t.Errorf("%s: Skip %q", v.Name, v.Skip)
		}
	}
}

func TestBudgetGreedy(t *testing.T) {
	mk := func(name string, est time.Duration, skip string, features ...string) Variant {
		return Variant{Name: name, Key: "T/" + name, Estimate: est, Skip: skip, Features: features}
	}
	for _, tc := range []struct {
		name   string
		vs     []Variant
		budget time.Duration
		chosen []string
		report BudgetReport
	}{
		{
			name: "best ratio first, ties by name",
			vs: []Variant{
				mk("a", 10*time.Second, "", "x", "y", "z"), // 0.3 per second: never fits after b and c
				mk("c", 1*time.Second, "", "w"),            // 1 per second, ties with b
				mk("b", 2*time.Second, "", "u", "v"),       // 1 per second
				mk("d", 1*time.Second, "", "u"),            // covered by b once b is in
				mk("e", 1*time.Second, "constraints: no", "q"),
			},
			budget: 3 * time.Second,
			chosen: []string{"b", "c"},
			report: BudgetReport{Budget: 3 * time.Second, Chosen: 2, Candidates: 4, Seconds: 3, CandidateSeconds: 14, Features: 3, CandidateFeatures: 6},
		},
		{
			name: "tie by name decides what is left",
			vs: []Variant{
				mk("c", 1*time.Second, "", "w"),
				mk("b", 2*time.Second, "", "u", "v"),
				mk("d", 1*time.Second, "", "u"),
			},
			budget: 2 * time.Second,
			chosen: []string{"b"}, // c first would have left room for d
			report: BudgetReport{Budget: 2 * time.Second, Chosen: 1, Candidates: 3, Seconds: 2, CandidateSeconds: 4, Features: 2, CandidateFeatures: 3},
		},
		{
			name: "ratio beats count",
			vs: []Variant{
				mk("a", 10*time.Second, "", "x", "y", "z"),
				mk("f", 1*time.Second, "", "p", "q"),
			},
			budget: 10 * time.Second,
			chosen: []string{"f"}, // a alone would cover more, but f has the better ratio
			report: BudgetReport{Budget: 10 * time.Second, Chosen: 1, Candidates: 2, Seconds: 1, CandidateSeconds: 11, Features: 2, CandidateFeatures: 5},
		},
		{
			name: "tiny budget: only what fits",
			vs: []Variant{
				mk("a", 10*time.Second, "", "x", "y", "z"),
				mk("b", 2*time.Second, "", "u", "v"),
				mk("c", 1*time.Second, "", "u"),
			},
			budget: 1500 * time.Millisecond,
			chosen: []string{"c"},
			report: BudgetReport{Budget: 1500 * time.Millisecond, Chosen: 1, Candidates: 3, Seconds: 1, CandidateSeconds: 13, Features: 1, CandidateFeatures: 5},
		},
		{
			name: "nothing fits",
			vs: []Variant{
				mk("a", 10*time.Second, "", "x"),
			},
			budget: time.Second,
			report: BudgetReport{Budget: time.Second, Candidates: 1, CandidateSeconds: 10, CandidateFeatures: 1},
		},
		{
			name: "equal ratios: ties by name",
			vs: []Variant{
				mk("b", 4*time.Second, "", "p", "q"),
				mk("a", 4*time.Second, "", "p", "q"),
			},
			budget: 10 * time.Second,
			chosen: []string{"a"}, // ties by name; b then adds nothing
			report: BudgetReport{Budget: 10 * time.Second, Chosen: 1, Candidates: 2, Seconds: 4, CandidateSeconds: 8, Features: 2, CandidateFeatures: 2},
		},
		{
			name: "zero budget: no budget",
			vs: []Variant{
				mk("a", 10*time.Second, "", "x"),
				mk("b", 2*time.Second, "", "x"),
				mk("c", time.Second, "host: no", "y"),
			},
			chosen: []string{"a", "b"},
			report: BudgetReport{Chosen: 2, Candidates: 2, Seconds: 12, CandidateSeconds: 12, Features: 1, CandidateFeatures: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skipsBefore := map[string]string{}
			for _, v := range tc.vs {
				skipsBefore[v.Name] = v.Skip
			}
			r := ApplyBudget(tc.vs, tc.budget)
			if r != tc.report {
				t.Errorf("report %+v\nwant   %+v", r, tc.report)
			}
			var chosen []string
			for _, v := range tc.vs {
				switch {
				case v.Skip == "":
					chosen = append(chosen, v.Name)
				case skipsBefore[v.Name] != "":
					if v.Skip != skipsBefore[v.Name] {
						t.Errorf("%s: Skip %q changed to %q", v.Name, skipsBefore[v.Name], v.Skip)
					}
				case v.Skip != "budget: not chosen within KTSTR_BUDGET_SECS="+budgetSecs(tc.budget):
					t.Errorf("%s: Skip %q", v.Name, v.Skip)
				}
			}
			slices.Sort(chosen)
			if !slices.Equal(chosen, tc.chosen) {
				t.Errorf("chose %v, want %v", chosen, tc.chosen)
			}
		})
	}
}

func TestBudgetString(t *testing.T) {
	for _, tc := range []struct {
		r    BudgetReport
		want string
	}{
		{BudgetReport{Budget: 120 * time.Second, Chosen: 5, Candidates: 18, Seconds: 112.4, CandidateSeconds: 640, Features: 23, CandidateFeatures: 27},
			"budget 120 s: 5 of 18 variants, 112 of 640 s, 23 of 27 features"},
		{BudgetReport{Budget: 1500 * time.Millisecond, Chosen: 1, Candidates: 3, Seconds: 1, CandidateSeconds: 13, Features: 1, CandidateFeatures: 5},
			"budget 1.5 s: 1 of 3 variants, 1 of 13 s, 1 of 5 features"},
		{BudgetReport{Chosen: 18, Candidates: 18, Seconds: 640, CandidateSeconds: 640, Features: 27, CandidateFeatures: 27},
			"no budget: 18 variants, 640 s, 27 features"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	// A variant that covers nothing is not worth its time.
	vs := []Variant{{Name: "a", Estimate: time.Second}}
	ApplyBudget(vs, 1500*time.Millisecond)
	if vs[0].Skip != "budget: not chosen within KTSTR_BUDGET_SECS=1.5" {
		t.Errorf("a variant without features: Skip %q", vs[0].Skip)
	}
}
