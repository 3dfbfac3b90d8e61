// Package runner boots one plan in a VM: it computes the run's budget,
// packs the initramfs (the init binary, the plan's files, the job), starts
// QEMU through package vm with the results channel as one of its ports,
// reads the guest's frames as they come, and classifies how the run ended
// into a verdict. The root package's Run and the ktstr command both use it.
//
// Environment (read by ReadSettings, and only there):
//
//	KTSTR_KERNEL       kernel image, build directory or cache key
//	KTSTR_ACCEL        kvm or tcg (default: kvm where hardware virtualization works)
//	KTSTR_QEMU         QEMU binary (default: qemu-system-x86_64 on PATH)
//	KTSTR_CACHE_DIR    cache root (absolute)
//	KTSTR_SCHEDULER    scheduler binary or directory searched first by Discover
//	KTSTR_JOBS         VMs run at once on the host, across processes
//	KTSTR_TIMEOUT      host-side limit per VM, overriding the computed one
//	KTSTR_CONSOLE      stream the guest console into the test log
//	KTSTR_RESULTS_DIR  write one JSON record per VM run there (absolute)
//	KTSTR_MONITOR      0 switches the host-side monitor off (default on)
//	KTSTR_AUTO_REPRO   0 switches auto-repro off (default on)
//	KTSTR_PERF_REQUIRED 1: performance mode must fit this host (CI fails, not skips)
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/initramfs"
	"github.com/ktstr-go/ktstr/internal/budget"
	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/flock"
	"github.com/ktstr-go/ktstr/internal/perf"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/vm"
)

// RunID names one VM run of a test.
type RunID struct {
	// Test is the testing.T name of the test that called ktstr.Run, and
	// Occurrence counts ktstr.Run calls within it.
	Test       string
	Occurrence int
	Replica    int
}

// Hooks receive what a run produces as it arrives. Any may be nil.
type Hooks struct {
	// Console receives each console line.
	Console func(line string)
	// Frame receives each frame of the results channel.
	Frame func(at time.Time, f proto.Envelope)
	// Waiting is called once when the run waits for a VM slot.
	Waiting func(slots int)
	// Terminal, when set, is the guest's serial console in both
	// directions, raw, instead of Console (ktstr shell).
	Terminal *os.File
	// Resize, with Terminal, carries the host terminal's new size each
	// time it changes, for the guest's console (ktstr shell); it goes over
	// the control port.
	Resize <-chan proto.Winsize
	// WaitingCPUs is called once when the run waits for host CPUs: a
	// performance-mode VM for the CPUs it pins (cpus), any other VM while
	// performance-mode VMs hold every CPU (cpus nil).
	WaitingCPUs func(cpus []int)
}

// Run boots the plan and waits for the VM to end. The error reports a run
// that could not be started (a harness failure); how a started run ended is
// Outcome.Failure.
func Run(ctx context.Context, host HostEnv, p *plan.Plan, id RunID, hooks Hooks) (*Outcome, error) {
	b := Budget(host, p)
	job := Job(p, id, b)
	o := newOutcome(p.Kind, b, host.Accel.Accel, p.Topology.CPUs())
	o.checks = p.Checks
	tasks, err := o.monitorTasks(host, p, b)
	if err != nil {
		return nil, err
	}
	segments, err := initrdSegments(host.Self, p.Files())
	if err != nil {
		return nil, err
	}
	jobCpio, err := jobArchive(&job)
	if err != nil {
		return nil, err
	}
	slots, err := cachedir.Sub("slots", true)
	if err != nil {
		return nil, err
	}
	waitStart := time.Now()
	release, err := acquireSlot(ctx, slots, host.Jobs, func() {
		if hooks.Waiting != nil {
			hooks.Waiting(host.Jobs)
		}
	})
	if err != nil {
		return nil, err
	}
	defer release()
	var pin *vm.Pinning
	var cpus []int
	var heldFrom time.Time
	if p.Performance {
		h, err := hostTopology()
		if err != nil {
			return nil, err
		}
		h.FreeHugepages = perf.FreeHugepages("/sys")
		pl, err := perf.Plan(h, p.Topology, p.MemoryMB)
		if err != nil {
			return nil, err
		}
		o.Placement = &pl
		unlock, err := flock.LockAll(ctx, perf.LockPaths(slots, pl.CPUs()), func() {
			if hooks.WaitingCPUs != nil {
				hooks.WaitingCPUs(pl.CPUs())
			}
		})
		if err != nil {
			return nil, fmt.Errorf("performance mode: %w", err)
		}
		defer unlock()
		heldFrom = time.Now()
		pin = &vm.Pinning{VCPUs: pl.VCPUs, Service: pl.Service, FIFO: true, Hugepages: pl.Hugepages, HostNodes: pl.HostNodes}
	} else {
		var unlock func()
		cpus, unlock, err = sharedCPUs(ctx, slots, func() {
			if hooks.WaitingCPUs != nil {
				hooks.WaitingCPUs(nil)
			}
		})
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	// Time spent waiting for a slot or CPUs is not the run's.
	o.Begin = o.Begin.Add(time.Since(waitStart))
	cmdline := append(append([]string{}, proto.Cmdline...), p.KernelArgs...)
	v, err := vm.Start(ctx, vm.Config{
		QEMU:       host.QEMUPath,
		Kernel:     host.Image.BzImage,
		Initrd:     segments,
		InitrdData: [][]byte{jobCpio},
		Topology:   p.Topology,
		MemoryMB:   p.MemoryMB,
		Accel:      host.Accel.Accel,
		Cmdline:    cmdline,
		Timeout:    b.Host,
		Console:    o.console(hooks.Console),
		Terminal:   hooks.Terminal,
		Ports:      ports(o, hooks),
		Tasks:      tasks,
		HostCPUs:   cpus,
		Pinning:    pin,
	})
	if err != nil {
		return nil, err
	}
	o.VM, o.TaskErr = v.Wait()
	if pin != nil {
		if o.Pinned = v.Pinned(); o.Pinned != nil {
			// Before the deferred unlock.
			o.Pinned.HeldFrom, o.Pinned.HeldUntil = heldFrom, time.Now()
		}
	}
	o.End = time.Now()
	o.finishMonitor()
	return o, nil
}

// Budget returns the run's budget: the plan's shape and duration on this
// host, with KTSTR_TIMEOUT replacing the host-side limit.
func Budget(host HostEnv, p *plan.Plan) budget.Budget {
	in := budget.Input{Accel: string(host.Accel.Accel), VCPUs: p.Topology.CPUs(), HostCPUs: host.HostCPUs, Duration: p.Duration}
	if p.Kind == proto.KindTopo {
		in.Duration = 0
	}
	if s := p.Scheduler; s != nil {
		in.Scheduler, in.Watchdog = true, s.Watchdog
	}
	b := budget.New(in)
	if p.Kind == proto.KindShell {
		// A person is at the console: no limit but KTSTR_TIMEOUT.
		b.Host = 0
	}
	if host.Timeout > 0 {
		b.Host = host.Timeout
	}
	return b
}

// Job returns what the guest gets for the plan.
func Job(p *plan.Plan, id RunID, b budget.Budget) proto.Job {
	job := proto.Job{
		Kind: p.Kind, Test: id.Test, Occurrence: id.Occurrence, Replica: id.Replica,
		Topology: p.Topology, MemoryMB: p.MemoryMB, Duration: p.Duration, WorkersPerCgroup: p.Workers,
		Budget: b, Sysctls: p.Sysctls,
	}
	for _, f := range p.Include {
		job.IncludeFiles = append(job.IncludeFiles, f.Guest)
	}
	if s := p.Scheduler; s != nil {
		job.Scheduler = &proto.SchedulerJob{
			Name: s.Name, Path: s.GuestPath, Args: s.Args, Profile: s.Profile, OpsNames: s.OpsNames,
			BpfMapWrite: s.BpfMapWrite, Probe: s.Probe,
		}
	}
	if p.Kind == proto.KindTest {
		if raw, err := json.Marshal(p.Checks); err == nil {
			job.Checks = raw
		}
	}
	job.Shell = p.Shell
	return job
}

// jobArchive is a small newc archive holding the job.
func jobArchive(job *proto.Job) ([]byte, error) {
	raw, err := json.MarshalIndent(job, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	b := initramfs.New()
	b.AddBytes(proto.JobPath, raw, 0o644)
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("job archive: %w", err)
	}
	return buf.Bytes(), nil
}

// initrdSegments returns the cached archives of the init binary and of the
// plan's files.
func initrdSegments(self string, files []plan.File) ([]string, error) {
	base, err := cachedArchive([]plan.File{{Guest: "/init", Host: self, Binary: true}})
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	segs := []string{base}
	if len(files) > 0 {
		extra, err := cachedArchive(files)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		segs = append(segs, extra)
	}
	return segs, nil
}

// memo remembers archives built by this process, keyed by the files' paths,
// sizes and modification times, so parallel and repeated VMs of one test
// binary hash them once. An entry whose archive has disappeared from the
// cache (pruned or deleted by another process) is built again.
var memo = struct {
	sync.Mutex
	m map[string]*memoEntry
}{m: map[string]*memoEntry{}}

type memoEntry struct {
	mu   sync.Mutex
	path string
}

func cachedArchive(files []plan.File) (string, error) {
	key, err := statKey(files)
	if err != nil {
		return "", err
	}
	memo.Lock()
	e := memo.m[key]
	if e == nil {
		e = &memoEntry{}
		memo.m[key] = e
	}
	memo.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.path != "" {
		if _, err := os.Stat(e.path); err == nil {
			return e.path, nil
		}
		e.path = ""
	}
	b := initramfs.New()
	for _, f := range files {
		var err error
		if f.Binary {
			err = b.AddBinary(f.Guest, f.Host)
		} else {
			err = b.AddFile(f.Guest, f.Host)
		}
		if err != nil {
			return "", err
		}
	}
	path, err := b.Cached("")
	if err != nil {
		return "", err
	}
	e.path = path
	return path, nil
}

func statKey(files []plan.File) (string, error) {
	var b bytes.Buffer
	for _, f := range files {
		st, err := os.Stat(f.Host)
		if err != nil {
			return "", fmt.Errorf("pack %s: %w", f.Host, err)
		}
		fmt.Fprintf(&b, "%s\x00%s\x00%v\x00%d\x00%d\n", f.Guest, f.Host, f.Binary, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// ports are the guest's virtio-serial ports: the results channel, and the
// control port when the host has something to tell the guest (a shell's
// terminal size).
func ports(o *Outcome, hooks Hooks) []vm.Port {
	ps := []vm.Port{{Name: proto.PortName, Read: func(r io.Reader) error {
		o.readFrames(r, hooks.Frame)
		return nil
	}}}
	if hooks.Resize == nil {
		return ps
	}
	return append(ps, vm.Port{Name: proto.ControlPortName,
		Read: func(io.Reader) error { return nil }, // the guest sends nothing; vm drains it
		Write: func(ctx context.Context, w io.Writer) error {
			for {
				select {
				case <-ctx.Done():
					return nil
				case ws, ok := <-hooks.Resize:
					if !ok {
						return nil
					}
					if _, err := io.WriteString(w, ws.String()); err != nil {
						return err
					}
				}
			}
		}})
}
