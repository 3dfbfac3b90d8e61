package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/threads"
	"github.com/ktstr-go/ktstr/topology"
)

// Pinning places QEMU's threads for performance mode. QEMU starts paused
// (-S); once each vCPU thread (from QMP) is on its host CPU, the VM runs.
type Pinning struct {
	// VCPUs is the host CPU of each vCPU, by cpu-index.
	VCPUs []int
	// Service is the host CPU of QEMU's other threads (main loop, I/O,
	// RCU) and of the VM's port readers and tasks on the host.
	Service int
	// FIFO runs vCPU threads at SCHED_FIFO priority 1 and the service
	// threads at 2 (above them, on a CPU of their own).
	FIFO bool
	// Hugepages backs guest RAM with 2 MiB hugepages (memfd MFD_HUGETLB).
	Hugepages bool
	// HostNodes binds each guest node's RAM to these host NUMA nodes
	// (memory-backend host-nodes, policy=bind); empty leaves it.
	HostNodes [][]int
}

// FIFO priorities of performance mode.
const (
	VCPUPriority    = 1
	ServicePriority = 2
)

func (p *Pinning) cpus() []int {
	out := append([]int{p.Service}, p.VCPUs...)
	sort.Ints(out)
	return out
}

// Pinned is what pinning achieved, read back from /proc while QEMU ran.
type Pinned struct {
	VCPUs []PinnedThread `json:"vcpus"`
	// Service are QEMU's other threads, moved to the service CPU.
	Service []PinnedThread `json:"service"`
	// Hugepages and HostNodes are what guest RAM got.
	Hugepages bool    `json:"hugepages"`
	HostNodes [][]int `json:"host_nodes,omitempty"`
	// Warnings say what could not be done (SCHED_FIFO without the
	// privilege, a thread that went away).
	Warnings []string `json:"warnings,omitempty"`
	// HeldFrom and HeldUntil bound the time the VM held its CPUs
	// exclusively (set by whoever took them).
	HeldFrom  time.Time `json:"held_from"`
	HeldUntil time.Time `json:"held_until"`
}

// PinnedThread is one QEMU thread as /proc shows it after pinning.
type PinnedThread struct {
	Index    int    `json:"index,omitempty"` // vCPU cpu-index
	TID      int    `json:"tid"`
	Allowed  string `json:"allowed"`  // Cpus_allowed_list
	Policy   string `json:"policy"`   // "fifo", "normal", ...
	Priority int    `json:"priority"` // rt_priority
}

func (t PinnedThread) String() string {
	return fmt.Sprintf("thread %d on CPU %s, %s %d", t.TID, t.Allowed, t.Policy, t.Priority)
}

// Pinned returns what pinning achieved (nil without Config.Pinning, or
// before the VM was released to run).
func (v *VM) Pinned() *Pinned {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pinned
}

// pin places every QEMU thread as cfg.Pinning says, reads back what the
// kernel applied, and lets the paused VM run. Failing to place a thread
// is a warning; failing to resume the VM is the task's error.
func (v *VM) pin(ctx context.Context) error {
	p := v.cfg.Pinning
	out := &Pinned{Hugepages: v.memory.huge, HostNodes: p.HostNodes}
	var cpus []VCPU
	var err error
	for deadline := time.Now().Add(qmpTimeout); ; {
		cpus, err = v.VCPUs(ctx)
		if err == nil && len(cpus) == len(p.VCPUs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("pin vCPUs: %w", err)
	}
	vcpu := map[int]bool{}
	for _, c := range cpus {
		if c.Index >= len(p.VCPUs) {
			out.Warnings = append(out.Warnings, fmt.Sprintf("vCPU %d has no host CPU in the placement", c.Index))
			continue
		}
		vcpu[c.ThreadID] = true
		out.Warnings = place(c.ThreadID, p.VCPUs[c.Index], p.FIFO, VCPUPriority, out.Warnings)
	}
	_ = threads.Each(v.Pid(), func(tid int) error {
		if !vcpu[tid] {
			out.Warnings = place(tid, p.Service, p.FIFO, ServicePriority, out.Warnings)
		}
		return nil
	})
	// Read back what the kernel holds now, while QEMU runs.
	for _, c := range cpus {
		t := readThread(v.Pid(), c.ThreadID)
		t.Index = c.Index
		out.VCPUs = append(out.VCPUs, t)
	}
	_ = threads.Each(v.Pid(), func(tid int) error {
		if !vcpu[tid] {
			out.Service = append(out.Service, readThread(v.Pid(), tid))
		}
		return nil
	})
	v.mu.Lock()
	v.pinned = out
	v.mu.Unlock()
	if err := v.qmp.execute(ctx, "cont", nil, nil); err != nil {
		return fmt.Errorf("resume the VM after pinning: %w", err)
	}
	return nil
}

// place pins thread tid to cpu and, with fifo, makes it SCHED_FIFO at prio.
func place(tid, cpu int, fifo bool, prio int, warnings []string) []string {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
		warnings = append(warnings, fmt.Sprintf("thread %d: pin to CPU %d: %v", tid, cpu, err))
	}
	if fifo {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			warnings = append(warnings, fmt.Sprintf("thread %d: SCHED_FIFO %d: %v (it needs CAP_SYS_NICE or an RLIMIT_RTPRIO)", tid, prio, err))
		}
	}
	return warnings
}

// serviceThread moves the calling goroutine, for good, onto a thread on
// the service CPU at the service priority: for the VM's port readers and
// tasks. The thread ends with the goroutine.
func (v *VM) serviceThread() {
	p := v.cfg.Pinning
	if p == nil {
		return
	}
	runtime.LockOSThread()
	_ = place(unix.Gettid(), p.Service, p.FIFO, ServicePriority, nil)
}

// readThread reads a thread's allowed CPUs and policy from /proc.
func readThread(pid, tid int) PinnedThread {
	t := PinnedThread{TID: tid, Allowed: "?", Policy: "?"}
	dir := fmt.Sprintf("/proc/%d/task/%d", pid, tid)
	if raw, err := os.ReadFile(dir + "/status"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				t.Allowed = strings.TrimSpace(v)
			}
		}
	}
	if raw, err := os.ReadFile(dir + "/stat"); err == nil {
		// Fields after the command (which may hold spaces) start at state
		// (field 3); rt_priority is field 40, policy 41.
		s := string(raw)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) >= 39 {
				t.Priority, _ = strconv.Atoi(f[37])
				pol, _ := strconv.Atoi(f[38])
				t.Policy = policyName(pol)
			}
		}
	}
	return t
}

func policyName(p int) string {
	switch p {
	case unix.SCHED_NORMAL:
		return "normal"
	case unix.SCHED_FIFO:
		return "fifo"
	case unix.SCHED_RR:
		return "rr"
	case unix.SCHED_BATCH:
		return "batch"
	case unix.SCHED_IDLE:
		return "idle"
	case unix.SCHED_DEADLINE:
		return "deadline"
	}
	return strconv.Itoa(p)
}

// hostNodes formats a host-nodes list for QEMU ("0-1", "0,2").
func hostNodes(nodes []int) string { return topology.FormatList(nodes) }
