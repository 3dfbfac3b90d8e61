// This file holds the topology constraints that filter presets.

package gauntlet

import (
	"errors"
	"fmt"

	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// Constraints bound the topologies a test may run on; the gauntlet skips
// presets outside them. A zero field is unset and inherits from the level
// below (see MergeConstraints); DefaultConstraints are the bottom level.
type Constraints struct {
	MinLLCs      int         `json:"min_llcs,omitempty"`
	MaxLLCs      int         `json:"max_llcs,omitempty"`
	MinCPUs      int         `json:"min_cpus,omitempty"`
	MaxCPUs      int         `json:"max_cpus,omitempty"`
	MinNumaNodes int         `json:"min_numa_nodes,omitempty"`
	MaxNumaNodes int         `json:"max_numa_nodes,omitempty"`
	RequiresSMT  verify.Bool `json:"requires_smt,omitempty"`
}

// DefaultConstraints are the framework defaults: 1-12 LLCs, 1-192 CPUs, a
// single NUMA node, SMT not required.
func DefaultConstraints() Constraints {
	return Constraints{MinLLCs: 1, MaxLLCs: 12, MinCPUs: 1, MaxCPUs: 192, MinNumaNodes: 1, MaxNumaNodes: 1, RequiresSMT: verify.Off}
}

// MergeConstraints applies levels in order; for each field the last level
// that set it wins.
func MergeConstraints(levels ...Constraints) Constraints {
	var out Constraints
	for _, l := range levels {
		for _, p := range []struct {
			dst *int
			src int
		}{
			{&out.MinLLCs, l.MinLLCs}, {&out.MaxLLCs, l.MaxLLCs}, {&out.MinCPUs, l.MinCPUs},
			{&out.MaxCPUs, l.MaxCPUs}, {&out.MinNumaNodes, l.MinNumaNodes}, {&out.MaxNumaNodes, l.MaxNumaNodes},
		} {
			if p.src != 0 {
				*p.dst = p.src
			}
		}
		out.RequiresSMT = l.RequiresSMT.Or(out.RequiresSMT)
	}
	return out
}

// Validate checks one level: no negative bound and no minimum above its
// maximum (when both are set). Errors name the fields.
func (c Constraints) Validate() error {
	var errs []error
	for _, p := range []struct {
		min, max         int
		minName, maxName string
	}{
		{c.MinLLCs, c.MaxLLCs, "MinLLCs", "MaxLLCs"},
		{c.MinCPUs, c.MaxCPUs, "MinCPUs", "MaxCPUs"},
		{c.MinNumaNodes, c.MaxNumaNodes, "MinNumaNodes", "MaxNumaNodes"},
	} {
		if p.min < 0 {
			errs = append(errs, fmt.Errorf("%s is %d: cannot be negative", p.minName, p.min))
		}
		if p.max < 0 {
			errs = append(errs, fmt.Errorf("%s is %d: cannot be negative", p.maxName, p.max))
		}
		if p.min > 0 && p.max > 0 && p.min > p.max {
			errs = append(errs, fmt.Errorf("%s (%d) is above %s (%d): a minimum cannot exceed its maximum", p.minName, p.min, p.maxName, p.max))
		}
	}
	return errors.Join(errs...)
}

// Allows reports whether t satisfies the constraints, and if not, why.
func (c Constraints) Allows(t topology.Topology) (bool, string) {
	checks := []struct {
		ok  bool
		why string
	}{
		{c.MinLLCs == 0 || t.LLCs >= c.MinLLCs, fmt.Sprintf("%d LLCs < MinLLCs %d", t.LLCs, c.MinLLCs)},
		{c.MaxLLCs == 0 || t.LLCs <= c.MaxLLCs, fmt.Sprintf("%d LLCs > MaxLLCs %d", t.LLCs, c.MaxLLCs)},
		{c.MinCPUs == 0 || t.CPUs() >= c.MinCPUs, fmt.Sprintf("%d CPUs < MinCPUs %d", t.CPUs(), c.MinCPUs)},
		{c.MaxCPUs == 0 || t.CPUs() <= c.MaxCPUs, fmt.Sprintf("%d CPUs > MaxCPUs %d", t.CPUs(), c.MaxCPUs)},
		{c.MinNumaNodes == 0 || t.NumaNodes >= c.MinNumaNodes, fmt.Sprintf("%d NUMA nodes < MinNumaNodes %d", t.NumaNodes, c.MinNumaNodes)},
		{c.MaxNumaNodes == 0 || t.NumaNodes <= c.MaxNumaNodes, fmt.Sprintf("%d NUMA nodes > MaxNumaNodes %d", t.NumaNodes, c.MaxNumaNodes)},
		{!c.RequiresSMT.True() || t.SMT(), "no SMT but RequiresSMT is set"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return false, ch.why
		}
	}
	return true, ""
}
