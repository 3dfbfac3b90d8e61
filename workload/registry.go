package workload

import (
	"fmt"
	"sync"
)

// registry maps the names of Custom work types to their functions. A worker
// process is a fresh execution of the test binary, so it only knows the
// functions registered while its packages were initialized: Custom must be
// called from package-level variable initializers (or init functions).
var registry struct {
	mu    sync.Mutex
	fns   map[string]func(*Control) error
	count map[string]int // registrations per name, to report duplicates
}

// Custom registers fn as a work type named name and returns it. Call it in a
// package-level variable declaration,
//
//	var burn = workload.Custom("burn", func(c *workload.Control) error {
//		for c.Running() {
//			// ... one unit of work ...
//			c.Progress(1)
//		}
//		return nil
//	})
//
// so that the re-executed worker process registers it too. fn must return
// soon after c.Running turns false; an error it returns lands in
// Report.Err. An empty name, a nil fn, the name of a built-in work type, or
// a name registered twice is not reported here but by Validate and Start.
func Custom(name string, fn func(*Control) error) Kind {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.fns == nil {
		registry.fns = map[string]func(*Control) error{}
		registry.count = map[string]int{}
	}
	registry.count[name]++
	if _, ok := registry.fns[name]; !ok && fn != nil {
		registry.fns[name] = fn
	}
	return kind{kindSpec{Type: TypeCustom, Name: name}}
}

// checkCustom reports why name cannot be run as a Custom work type.
func checkCustom(name string) error {
	if name == "" {
		return fmt.Errorf("custom work type with an empty name")
	}
	if builtinType(name) {
		return fmt.Errorf("custom work type %q has the name of a built-in work type", name)
	}
	fn, n := lookupCustom(name)
	switch {
	case n == 0:
		return fmt.Errorf("custom work type %q is not registered in this process "+
			"(call workload.Custom in a package-level variable declaration)", name)
	case n > 1:
		return fmt.Errorf("custom work type %q is registered %d times", name, n)
	case fn == nil:
		return fmt.Errorf("custom work type %q has a nil function", name)
	}
	return nil
}

func lookupCustom(name string) (func(*Control) error, int) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.fns[name], registry.count[name]
}

func builtinType(name string) bool {
	switch name {
	case TypeCpuSpin, TypeYieldHeavy, TypeMixed, TypeIoSync, TypeBursty, TypePipeIo,
		TypeFutexPingPong, TypeCachePressure, TypeFutexFanOut, TypeForkExit, TypeNiceSweep,
		TypeAffinityChurn, TypePolicyChurn, TypePageFaultChurn, TypeMutexContention,
		TypeSequence, TypeCustom:
		return true
	}
	return false
}
