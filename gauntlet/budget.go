package gauntlet

import (
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// BudgetReport summarises what ApplyBudget chose. Candidates are the
// variants that would run (Skip == "" before the budget).
type BudgetReport struct {
	// Budget is the budget applied; 0 or less means none.
	Budget time.Duration
	// Chosen and Candidates count variants.
	Chosen, Candidates int
	// Seconds and CandidateSeconds sum the chosen and the candidate
	// variants' estimates.
	Seconds, CandidateSeconds float64
	// Features and CandidateFeatures count the distinct features the
	// chosen and the candidate variants cover.
	Features, CandidateFeatures int
}

// String reads like "budget 120 s: 5 of 18 variants, 112 of 640 s, 23 of 27
// features", or "no budget: 18 variants, 640 s, 27 features".
func (r BudgetReport) String() string {
	if r.Budget <= 0 {
		return fmt.Sprintf("no budget: %d variants, %.0f s, %d features", r.Candidates, r.CandidateSeconds, r.CandidateFeatures)
	}
	return fmt.Sprintf("budget %s s: %d of %d variants, %.0f of %.0f s, %d of %d features",
		budgetSecs(r.Budget), r.Chosen, r.Candidates, r.Seconds, r.CandidateSeconds, r.Features, r.CandidateFeatures)
}

// budgetSecs formats a budget in seconds as KTSTR_BUDGET_SECS would hold it.
func budgetSecs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// ApplyBudget chooses, among the variants with Skip == "" (the
// candidates), a subset whose estimates fit in budget, and sets the Skip of
// the others to "budget: not chosen within KTSTR_BUDGET_SECS=<n>".
//
// The choice is greedy: it repeatedly takes the candidate with the most
// features not yet covered per estimated second among those whose
// estimate fits in what is left of the budget, ties broken by Name (then
// Key), and stops when no fitting candidate adds a feature. It depends
// only on the variants, not on their order, so every machine makes the
// same choice. A budget of 0 or less means no budget: every candidate is
// chosen.
func ApplyBudget(vs []Variant, budget time.Duration) BudgetReport {
	rep := BudgetReport{Budget: budget}
	var cand []int
	all := map[string]bool{}
	for i, v := range vs {
		if v.Skip != "" {
			continue
		}
		cand = append(cand, i)
		rep.CandidateSeconds += v.Estimate.Seconds()
		for _, f := range v.Features {
			all[f] = true
		}
	}
	rep.Candidates, rep.CandidateFeatures = len(cand), len(all)
	if budget <= 0 {
		rep.Chosen, rep.Seconds, rep.Features = rep.Candidates, rep.CandidateSeconds, rep.CandidateFeatures
		return rep
	}

	covered := map[string]bool{}
	chosen := make([]bool, len(vs))
	left := budget
	newFeatures := func(v Variant) int {
		n := 0
		seen := map[string]bool{}
		for _, f := range v.Features {
			if !covered[f] && !seen[f] {
				seen[f] = true
				n++
			}
		}
		return n
	}
	for {
		best, bestNew := -1, 0
		for _, i := range cand {
			v := vs[i]
			if chosen[i] || max(v.Estimate, 0) > left {
				continue
			}
			n := newFeatures(v)
			if n == 0 {
				continue
			}
			if best < 0 {
				best, bestNew = i, n
				continue
			}
			b := vs[best]
			c := cmpRatio(n, max(v.Estimate, 0), bestNew, max(b.Estimate, 0))
			if c > 0 || c == 0 && (v.Name < b.Name || v.Name == b.Name && v.Key < b.Key) {
				best, bestNew = i, n
			}
		}
		if best < 0 {
			break
		}
		v := vs[best]
		chosen[best] = true
		left -= max(v.Estimate, 0)
		rep.Chosen++
		rep.Seconds += v.Estimate.Seconds()
		for _, f := range v.Features {
			covered[f] = true
		}
	}
	rep.Features = len(covered)
	skip := "budget: not chosen within KTSTR_BUDGET_SECS=" + budgetSecs(budget)
	for _, i := range cand {
		if !chosen[i] {
			vs[i].Skip = skip
		}
	}
	return rep
}

// cmpRatio compares n1/e1 with n2/e2 exactly (a zero estimate is an
// infinite ratio); n and e are not negative.
func cmpRatio(n1 int, e1 time.Duration, n2 int, e2 time.Duration) int {
	h1, l1 := bits.Mul64(uint64(n1), uint64(e2))
	h2, l2 := bits.Mul64(uint64(n2), uint64(e1))
	if h1 != h2 {
		return cmpU(h1, h2)
	}
	return cmpU(l1, l2)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
