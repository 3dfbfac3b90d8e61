package ktstr

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/vm"
)

// hostEnv is what every VM of this test binary shares.
type hostEnv struct {
	self   string // the test binary: the guest's init
	kernel string // kernel image
	accel  vm.Choice
	// timeout overrides the computed host-side limit ($KTSTR_TIMEOUT).
	timeout time.Duration
}

var hostEnvOnce = sync.OnceValues(func() (*hostEnv, error) {
	host, err := runner.HostEnvironment()
	if err != nil {
		return nil, err
	}
	env := &hostEnv{self: host.Self, kernel: host.Kernel, accel: host.Accel}
	if v := os.Getenv("KTSTR_TIMEOUT"); v != "" {
		if env.timeout, err = time.ParseDuration(v); err != nil || env.timeout <= 0 {
			return nil, fmt.Errorf("KTSTR_TIMEOUT=%q: want a positive duration such as 90s", v)
		}
	}
	return env, nil
})

// hostEnvironment returns the shared environment, or ends the test: a
// missing prerequisite skips it, saying which and how to get it, except
// under CI (CI=true), where everything must be installed and a missing
// prerequisite fails it.
func hostEnvironment(t *testing.T) *hostEnv {
	t.Helper()
	env, err := hostEnvOnce()
	if err == nil {
		return env
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("ktstr: %v (CI=true: prerequisites must be installed, so this is a failure, not a skip)", err)
	}
	t.Skipf("ktstr: skipping VM test: %v", err)
	return nil
}
