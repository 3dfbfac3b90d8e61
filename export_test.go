package ktstr

import "testing"

// RequireVM skips (or under CI fails) t when this host cannot boot VMs,
// exactly as Run would.
func RequireVM(t *testing.T) {
	t.Helper()
	hostEnvironment(t)
}
