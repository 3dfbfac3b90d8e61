package gauntlet

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

func TestMergeConstraints(t *testing.T) {
	sched := Constraints{MaxNumaNodes: 2, RequiresSMT: verify.On}
	test := Constraints{MinLLCs: 2, RequiresSMT: verify.Off}
	got := MergeConstraints(DefaultConstraints(), sched, test)
	want := Constraints{MinLLCs: 2, MaxLLCs: 12, MinCPUs: 1, MaxCPUs: 192, MinNumaNodes: 1, MaxNumaNodes: 2, RequiresSMT: verify.Off}
	if got != want {
		t.Errorf("MergeConstraints = %+v, want %+v", got, want)
	}
}

func TestAllows(t *testing.T) {
	def := DefaultConstraints()
	smt := MergeConstraints(def, Constraints{RequiresSMT: verify.On})
	for _, tc := range []struct {
		c    Constraints
		topo topology.Topology
		why  string // "" when allowed
	}{
		{def, topology.New(1, 2, 4, 1), ""},
		{def, topology.New(2, 2, 2, 1), "2 NUMA nodes > MaxNumaNodes 1"},
		{def, topology.New(1, 16, 2, 1), "16 LLCs > MaxLLCs 12"},
		{def, topology.New(1, 12, 16, 2), "384 CPUs > MaxCPUs 192"},
		{smt, topology.New(1, 1, 2, 1), "no SMT but RequiresSMT is set"},
		{smt, topology.New(1, 1, 2, 2), ""},
		{MergeConstraints(def, Constraints{MinCPUs: 8}), topology.New(1, 1, 2, 1), "2 CPUs < MinCPUs 8"},
	} {
		ok, why := tc.c.Allows(tc.topo)
		if ok != (tc.why == "") || why != tc.why {
			t.Errorf("%+v.Allows(%s) = %v, %q; want %q", tc.c, tc.topo, ok, why, tc.why)
		}
	}
}

func TestConstraintsValidate(t *testing.T) {
	if err := (Constraints{MinLLCs: 3, MaxLLCs: 2, MinCPUs: -1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "MinLLCs (3) is above MaxLLCs (2)") || !strings.Contains(err.Error(), "MinCPUs is -1") {
		t.Errorf("Validate = %v", err)
	}
	if err := DefaultConstraints().Validate(); err != nil {
		t.Error(err)
	}
}
