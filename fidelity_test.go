package ktstr_test

import (
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/topology"
)

// TestTopologyFidelity boots each shape and checks that the guest kernel
// sees exactly the asked CPUs, LLC groups, SMT siblings, NUMA nodes and
// distances.
func TestTopologyFidelity(t *testing.T) {
	for _, shape := range []string{"1n1l2c1t", "1n2l2c1t", "1n2l2c2t", "2n2l2c1t", "2n4l1c2t"} {
		t.Run(shape, func(t *testing.T) {
			t.Parallel()
			topo, err := topology.Parse(shape)
			if err != nil {
				t.Fatal(err)
			}
			test := ktstr.Test{NumaNodes: topo.NumaNodes, LLCs: topo.LLCs, Cores: topo.Cores, Threads: topo.Threads, MemoryMB: 512}
			ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
				if d := ctx.Shape.Expected().Diff(ctx.Topology); d != nil {
					return ktstr.Fail("guest topology differs from %s: %s", ctx.Shape, strings.Join(d, "; ")), nil
				}
				ctx.Logf("%s: llcs %v smt %v numa %v distances %v", ctx.Shape, ctx.Topology.LLCs, ctx.Topology.SMT, ctx.Topology.NUMA, ctx.Topology.Distances)
				return ktstr.Pass(), nil
			})
		})
	}
}
