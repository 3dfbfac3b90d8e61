package monitor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/verify"
)

// Config is what a Monitor needs.
type Config struct {
	Kernel *Kernel
	// Mem is the guest's RAM and RAMTop the end of its guest-physical
	// address space.
	Mem    Mem
	RAMTop uint64
	// CPUs is how many guest CPUs to sample.
	CPUs int
	// Interval is the time between samples; Settle the wait after start
	// before the first one (workers starting up are not judged).
	Interval, Settle time.Duration
	// VCPUTime returns the host CPU time the thread of guest CPU cpu has
	// used; nil when it cannot be known.
	VCPUTime func(cpu int) (time.Duration, error)
	// SchedExt is set when a sched_ext scheduler is attached.
	SchedExt bool
	// Confined, when set, says whether the test function confines its
	// workers to some CPUs at the time of a sample (MonitorSample.Confined).
	Confined func() bool
	// HZ is the guest kernel's CONFIG_HZ (0: unknown): with it the monitor
	// reads the sched_ext watchdog timeout (scx_watchdog_timeout, jiffies)
	// the kernel applies, once sampling starts.
	HZ int
	// Violated, when set, is called after each sample with the series so
	// far; the first time it returns true, OnViolation is called with the
	// time of that sample (the runner asks the guest for a sched_ext dump
	// then).
	Violated    func(verify.MonitorSeries) bool
	OnViolation func(at time.Duration)
}

// Monitor samples a guest's runqueues.
type Monitor struct {
	cfg    Config
	mu     sync.Mutex
	series verify.MonitorSeries
	notes  []string
	// cpu is the host CPU time spent taking samples.
	cpu time.Duration
	// watchdog is the kernel's sched_ext watchdog timeout read from the
	// host; watchdogRead whether it was.
	watchdog     time.Duration
	watchdogRead bool
}

// New returns a monitor for cfg.
func New(cfg Config) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	return &Monitor{cfg: cfg, series: verify.MonitorSeries{
		Interval: cfg.Interval, SchedExt: cfg.SchedExt, HasScx: cfg.Kernel.HasScx(), HasVCPUTime: cfg.VCPUTime != nil,
	}}
}

// Run waits for start, then samples every interval until stop is closed or
// ctx ends. Samples that cannot be read are counted as discarded; setting up
// (which needs the guest kernel booted far enough) is retried until the
// first sample is due. Run returns nil: what went wrong is in Notes.
func (m *Monitor) Run(ctx context.Context, start, stop <-chan struct{}) error {
	select {
	case <-start:
	case <-stop:
		return nil
	case <-ctx.Done():
		return nil
	}
	t0 := time.Now()
	settle := time.NewTimer(m.cfg.Settle)
	defer settle.Stop()
	select {
	case <-settle.C:
	case <-stop:
		m.note("monitor: the test function ended within the %s settle time: nothing sampled", m.cfg.Settle)
		return nil
	case <-ctx.Done():
		return nil
	}
	s, err := m.setup()
	if err != nil {
		m.note("%v", err)
		return nil
	}
	m.readWatchdog(s.t)
	// One thread for the whole run, so that its CPU time is the
	// sampling's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	violated := false
	for {
		cpu0 := threadCPU()
		sample := verify.MonitorSample{At: time.Since(t0), CPUs: make([]verify.CPUSample, s.CPUs())}
		if m.cfg.Confined != nil {
			sample.Confined = m.cfg.Confined()
		}
		err := s.Sample(sample.CPUs)
		if err == nil && m.cfg.VCPUTime != nil {
			for c := range sample.CPUs {
				d, verr := m.cfg.VCPUTime(c)
				if verr != nil {
					err = verr
					break
				}
				sample.CPUs[c].VCPUTime = uint64(d)
			}
		}
		m.mu.Lock()
		if err != nil {
			m.series.Discarded++
			if m.series.Discarded == 1 {
				m.notes = append(m.notes, fmt.Sprintf("monitor: a sample could not be read: %v", err))
			}
		} else {
			m.series.Samples = append(m.series.Samples, sample)
		}
		m.cpu += threadCPU() - cpu0
		snapshot := m.series
		m.mu.Unlock()
		if !violated && m.cfg.Violated != nil && m.cfg.Violated(snapshot) {
			violated = true
			if m.cfg.OnViolation != nil {
				m.cfg.OnViolation(sample.At)
			}
		}
		select {
		case <-tick.C:
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// setup builds the translator and the sampler, retrying while the guest
// kernel is not ready for up to a few intervals.
func (m *Monitor) setup() (*Sampler, error) {
	var last error
	for try := 0; try < 20; try++ {
		t, err := NewTranslator(m.cfg.Kernel, m.cfg.Mem, m.cfg.RAMTop)
		if err == nil {
			var s *Sampler
			if s, err = NewSampler(m.cfg.Kernel, t, m.cfg.CPUs); err == nil {
				return s, nil
			}
		}
		last = err
		if !errors.Is(err, ErrNotReady) {
			break
		}
		time.Sleep(m.cfg.Interval)
	}
	return nil, fmt.Errorf("monitor: not sampling: %w", last)
}

func (m *Monitor) note(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notes = append(m.notes, fmt.Sprintf(format, args...))
}

// readWatchdog reads the kernel's sched_ext watchdog timeout.
func (m *Monitor) readWatchdog(t *Translator) {
	va, ok := m.cfg.Kernel.syms["scx_watchdog_timeout"]
	if !ok || !m.cfg.SchedExt || m.cfg.HZ <= 0 {
		return
	}
	var b [8]byte
	if err := t.Read(va, b[:]); err != nil {
		m.note("monitor: read scx_watchdog_timeout: %v", err)
		return
	}
	jiffies := binary.LittleEndian.Uint64(b[:])
	m.mu.Lock()
	m.watchdog = time.Duration(jiffies) * time.Second / time.Duration(m.cfg.HZ)
	m.watchdogRead = true
	m.mu.Unlock()
}

// Watchdog returns the sched_ext watchdog timeout the kernel applied, as
// the host read it, and whether it could.
func (m *Monitor) Watchdog() (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watchdog, m.watchdogRead
}

// Series returns what the monitor sampled.
func (m *Monitor) Series() verify.MonitorSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series
	s.Samples = append([]verify.MonitorSample(nil), s.Samples...)
	return s
}

// Notes returns what went wrong or could not be done.
func (m *Monitor) Notes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.notes...)
}

// Cost returns the host CPU time spent taking samples, and how many were
// taken.
func (m *Monitor) Cost() (time.Duration, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpu, len(m.series.Samples) + m.series.Discarded
}

// threadCPU returns the calling thread's CPU time, to the nanosecond
// (getrusage's is split by tick counts, and reads 0 for a thread the
// tick never caught running).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
