package runner

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ktstr-go/ktstr/internal/budget"
	"github.com/ktstr-go/ktstr/internal/monitor"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/vm"
)

// monitorRun is the host-side monitor of one run: started when the test
// function starts, stopped when it reports its result.
type monitorRun struct {
	start, stop         chan struct{}
	startOnce, stopOnce sync.Once
	mon                 *monitor.Monitor
	// sysrq is when the monitor asked the guest for a sched_ext dump.
	sysrq time.Duration
	// confined is whether the test function confines workers to some CPUs
	// now (its confine frames).
	confined atomic.Bool
	err      error
}

func (m *monitorRun) started() { m.startOnce.Do(func() { close(m.start) }) }
func (m *monitorRun) stopped() { m.stopOnce.Do(func() { close(m.stop) }) }

// monitorTasks returns the VM task that runs the monitor for a test plan,
// or none, with a note saying why, when it cannot run: switched off, no
// vmlinux, or a vmlinux it cannot read.
func (o *Outcome) monitorTasks(host HostEnv, p *plan.Plan, b budget.Budget) ([]func(context.Context, *vm.VM) error, error) {
	if p.Kind != proto.KindTest {
		return nil, nil
	}
	if !host.Monitor {
		o.MonitorNotes = append(o.MonitorNotes, "monitor off (KTSTR_MONITOR=0): its checks were not evaluated")
		return nil, nil
	}
	k, err := monitor.LoadKernel(host.Image.Vmlinux)
	if err != nil {
		o.MonitorNotes = append(o.MonitorNotes, fmt.Sprintf("monitor unsupported with this kernel: %v; its checks were not evaluated", err))
		return nil, nil
	}
	hz := 0
	if v, ok, err := host.Image.ConfigValue("CONFIG_HZ"); ok && err == nil {
		hz, _ = strconv.Atoi(v)
	}
	m := &monitorRun{start: make(chan struct{}), stop: make(chan struct{})}
	o.monitor = m
	env := verify.Env{Scale: b.Scale, Accel: b.Accel}
	task := func(ctx context.Context, v *vm.VM) error {
		mem := v.Memory()
		if mem == nil {
			m.err = fmt.Errorf("monitor: the VM's memory is not mapped on the host")
			return nil
		}
		cfg := monitor.Config{
			Kernel: k, Mem: mem, RAMTop: ramTop(mem), CPUs: p.Topology.CPUs(), HZ: hz,
			Interval: b.MonitorInterval, Settle: b.MonitorSettle, SchedExt: p.Scheduler != nil,
			Violated: func(s verify.MonitorSeries) bool { return !verify.CheckMonitor(p.Checks, s, env).Passed },
			Confined: m.confined.Load,
		}
		cfg.OnViolation = func(at time.Duration) {
			m.sysrq = at
			if p.Scheduler != nil {
				_ = v.SysRq('D') // sched_ext's state dump; it comes back as dump frames
			}
		}
		// vCPU threads, for telling a stalled CPU from one the host did not run.
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		vcpus, err := v.VCPUs(qctx)
		cancel()
		if err == nil && len(vcpus) >= cfg.CPUs {
			tids := make(map[int]int, len(vcpus))
			for _, c := range vcpus {
				tids[c.Index] = c.ThreadID
			}
			cfg.VCPUTime = func(cpu int) (time.Duration, error) {
				tid, ok := tids[cpu]
				if !ok {
					return 0, fmt.Errorf("no thread for vCPU %d", cpu)
				}
				return v.ThreadCPUTime(tid)
			}
		} else {
			o.MonitorNotes = append(o.MonitorNotes, fmt.Sprintf("monitor: vCPU threads unknown (%v, %d of %d): stalls cannot be told from host preemption", err, len(vcpus), cfg.CPUs))
		}
		m.mon = monitor.New(cfg)
		return m.mon.Run(ctx, m.start, m.stop)
	}
	return []func(context.Context, *vm.VM) error{task}, nil
}

// ramTop is the end of the guest-physical address space that holds RAM.
func ramTop(mem *vm.Memory) uint64 {
	var top uint64
	for _, r := range mem.Ranges() {
		top = max(top, r.GPA+r.Size)
	}
	return top
}

// finishMonitor judges what the monitor sampled, once the VM ended.
func (o *Outcome) finishMonitor() {
	m := o.monitor
	if m == nil {
		return
	}
	if m.err != nil {
		o.MonitorNotes = append(o.MonitorNotes, m.err.Error())
	}
	if m.mon == nil {
		return
	}
	s := m.mon.Series()
	o.Monitor = &s
	o.KernelWatchdog, o.KernelWatchdogRead = m.mon.Watchdog()
	o.MonitorNotes = append(o.MonitorNotes, m.mon.Notes()...)
	o.MonitorCPU, o.MonitorSamples = m.mon.Cost()
	r := verify.CheckMonitor(o.checks, s, verify.Env{Scale: o.Budget.Scale, Accel: o.Budget.Accel})
	if m.sysrq > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("monitor: asked the guest for a sched_ext dump (SysRq-D) at the first sustained violation, %.1f s into the test", m.sysrq.Seconds()))
	}
	o.MonitorResult = &r
}
