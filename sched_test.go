package ktstr_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr"
)

// The kernel tree's own sched_ext schedulers (built by `ktstr sched build`).
var (
	scxSimple = ktstr.Scheduler{Name: "scx_simple", Binary: ktstr.Discover("scx_simple")}
	scxQmap   = ktstr.Scheduler{Name: "scx_qmap", Binary: ktstr.Discover("scx_qmap")}
)

// TestRealSchedulers: each scheduler attaches, a test passes under it, and
// it detaches cleanly.
func TestRealSchedulers(t *testing.T) {
	for _, s := range []*ktstr.Scheduler{&scxSimple, &scxQmap} {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			ktstr.Run(t, ktstr.Test{Scheduler: s, MemoryMB: 512}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
				state, _ := os.ReadFile("/sys/kernel/sched_ext/state")
				ops, _ := os.ReadFile("/sys/kernel/sched_ext/root/ops")
				if strings.TrimSpace(string(state)) != "enabled" {
					return ktstr.Fail("sched_ext state %q during the test", state), nil
				}
				ctx.Logf("sched_ext %s, ops %s", strings.TrimSpace(string(state)), strings.TrimSpace(string(ops)))
				return ktstr.Pass(), nil
			})
		})
	}
}
