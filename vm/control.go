package vm

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Memory returns the guest's RAM as the host sees it. It can be read while
// QEMU runs and until every task has returned (see Wait).
func (v *VM) Memory() *Memory { return v.memory }

// VCPU is one virtual CPU and the QEMU thread that runs it.
type VCPU struct {
	Index    int // QEMU's cpu-index, the guest's CPU number
	ThreadID int // the host thread (a task of QEMU's process)
}

// VCPUs asks QEMU (QMP query-cpus-fast) which thread runs each vCPU, in
// ascending Index order. Under TCG with thread=single every vCPU has the
// same thread.
func (v *VM) VCPUs(ctx context.Context) ([]VCPU, error) {
	var cpus []struct {
		Index    *int `json:"cpu-index"`
		ThreadID *int `json:"thread-id"`
	}
	if err := v.qmp.execute(ctx, "query-cpus-fast", nil, &cpus); err != nil {
		return nil, fmt.Errorf("vm vcpus: %w", err)
	}
	out := make([]VCPU, 0, len(cpus))
	for _, c := range cpus {
		if c.Index == nil || c.ThreadID == nil {
			return nil, fmt.Errorf("vm vcpus: query-cpus-fast gave a CPU without cpu-index or thread-id")
		}
		out = append(out, VCPU{Index: *c.Index, ThreadID: *c.ThreadID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// ThreadCPUTime returns how much host CPU time QEMU's thread tid has used
// (from /proc/<qemu pid>/task/<tid>/schedstat, first field, ns).
func (v *VM) ThreadCPUTime(tid int) (time.Duration, error) {
	return threadCPUTime(fmt.Sprintf("/proc/%d/task/%d/schedstat", v.Pid(), tid))
}

func threadCPUTime(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("vm thread CPU time: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("vm thread CPU time: %s is empty", path)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("vm thread CPU time: %s: bad run time %q", path, f[0])
	}
	return time.Duration(ns), nil
}

// SysRq sends the magic SysRq key c to the guest over its serial console:
// a BREAK (QMP chardev-send-break on the console chardev) followed by the
// character written to the console's input. The guest kernel needs
// CONFIG_MAGIC_SYSRQ_SERIAL, and acts on the key only while its serial
// console is open (init's console is) and c is enabled in
// /proc/sys/kernel/sysrq.
func (v *VM) SysRq(c byte) error {
	v.sysrqMu.Lock()
	defer v.sysrqMu.Unlock()
	select {
	case <-v.exited:
		return fmt.Errorf("vm sysrq %q: %w", c, errExited)
	default:
	}
	if err := v.qmp.execute(context.Background(), "chardev-send-break", map[string]string{"id": consoleID}, nil); err != nil {
		return fmt.Errorf("vm sysrq %q: %w", c, err)
	}
	if _, err := v.stdin.Write([]byte{c}); err != nil {
		return fmt.Errorf("vm sysrq %q: console input: %w", c, err)
	}
	return nil
}
