package ktstr_test

import (
	"testing"

	"github.com/ktstr-go/ktstr"
)

// TestTwoCgroups is the steady case: two cgroups of spinners under EEVDF
// pass the default checks (starvation, spread, gaps).
func TestTwoCgroups(t *testing.T) {
	t.Parallel()
	ktstr.Run(t, ktstr.Test{LLCs: 1, Cores: 2, NotStarved: ktstr.On}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		r, err := ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "cg_0", Workers: 2}, ktstr.CgroupDef{Name: "cg_1", Workers: 2})
		ctx.Logf("%s", r)
		return r, err
	})
}
