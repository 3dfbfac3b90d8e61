package ktstr_test

import (
	"testing"

	"github.com/ktstr-go/ktstr"
)

func TestSmoke(t *testing.T) {
	ktstr.Run(t, ktstr.Test{}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		ctx.Logf("hello from the guest: %d CPUs", ctx.Topology.CPUs)
		return ktstr.Pass(), nil
	})
}
