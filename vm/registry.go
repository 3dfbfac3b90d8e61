package vm

import "sync"

var live = struct {
	sync.Mutex
	vms map[*VM]struct{}
}{vms: map[*VM]struct{}{}}

func register(v *VM) {
	live.Lock()
	live.vms[v] = struct{}{}
	live.Unlock()
}

func unregister(v *VM) {
	live.Lock()
	delete(live.vms, v)
	live.Unlock()
}

// KillAll kills every VM this process started that is still running and
// waits until each has been reaped. Signal handlers call it before exiting.
func KillAll(reason string) {
	live.Lock()
	vms := make([]*VM, 0, len(live.vms))
	for v := range live.vms {
		vms = append(vms, v)
	}
	live.Unlock()
	for _, v := range vms {
		v.Kill(reason)
	}
	for _, v := range vms {
		<-v.exited
	}
}

// Running returns how many VMs this process has running.
func Running() int {
	live.Lock()
	defer live.Unlock()
	return len(live.vms)
}
