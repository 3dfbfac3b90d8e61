package ktstr

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/ktstr-go/ktstr/internal/runner"
)

var hostEnvOnce = sync.OnceValues(runner.HostEnvironment)

// ciMode reports whether CI=true: prerequisites must be installed, so a
// missing one is a failure, not a skip.
func ciMode() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// hostEnvironment returns the shared environment, or ends the test. An
// invalid KTSTR_* value fails it, saying which and how to fix it. A missing
// prerequisite skips it, saying which and how to get it, except under CI,
// where it fails.
func hostEnvironment(tb testing.TB) *runner.HostEnv {
	tb.Helper()
	if s, err := runner.ReadSettings(); err == nil && s.List {
		tb.Skip("ktstr list: nothing boots")
	}
	env, err := hostEnvOnce()
	switch {
	case err == nil:
		return &env
	case !errors.Is(err, runner.ErrPrerequisite):
		tb.Fatalf("ktstr: %v", err)
	case ciMode():
		tb.Fatalf("ktstr: %v (CI=true: prerequisites must be installed, so this is a failure, not a skip)", err)
	default:
		tb.Skipf("ktstr: skipping VM test: %v", err)
	}
	return nil
}
