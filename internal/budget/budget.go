// Package budget turns what a run is (accelerator, vCPUs, host CPUs, test
// duration, watchdog) into every time limit of that run and the factor its
// check thresholds are scaled by. It is the only place those numbers are
// made: the host computes one Budget per VM and sends it to the guest in the
// job, and neither side applies a factor or a fixed timeout of its own.
package budget

import (
	"fmt"
	"math"
	"time"
)

// Input is what a budget depends on.
type Input struct {
	// Accel is "kvm" or "tcg".
	Accel string
	// VCPUs is the guest's CPU count; HostCPUs the host's.
	VCPUs, HostCPUs int
	// Duration is the test's per-scenario duration (DurationS).
	Duration time.Duration
	// Watchdog is the configured sched_ext watchdog (WatchdogTimeoutS);
	// zero for a run without a sched_ext scheduler.
	Watchdog time.Duration
	// Scheduler is set when a sched_ext scheduler runs.
	Scheduler bool
}

// Budget is the time allowance of one VM run. Limits are durations the
// guest or host applies as they are; Scale is the one factor checks use.
type Budget struct {
	// Overcommit is vCPUs per host CPU, at least 1.
	Overcommit float64 `json:"overcommit"`
	// Slowdown is how much longer guest work may take than on hardware
	// virtualization without overcommit: 1 × Overcommit under KVM, 4 ×
	// Overcommit under TCG. Only limits use it, never checks.
	Slowdown float64 `json:"slowdown"`
	// Scale is the factor of time-based check thresholds (multiplied) and
	// rate thresholds (divided): Overcommit under KVM, twice that under TCG,
	// where every guest instruction is emulated and vCPU threads compete
	// with QEMU's own.
	Scale float64 `json:"scale"`
	// Accel labels Scale in messages.
	Accel string `json:"accel"`

	// Boot is the host's allowance for QEMU start, firmware and kernel boot.
	Boot time.Duration `json:"boot"`
	// SentinelReady bounds the start of the guest's real-time watcher.
	SentinelReady time.Duration `json:"sentinel_ready"`
	// Attach bounds the wait for sched_ext to report the scheduler enabled.
	Attach time.Duration `json:"attach"`
	// Test bounds the test function in the guest.
	Test time.Duration `json:"test"`
	// Stop bounds the scheduler's exit after SIGINT, and its detach.
	Stop time.Duration `json:"stop"`
	// Settle is how long the guest waits for the kernel's messages about a
	// scheduler event (its exit reason) to arrive.
	Settle time.Duration `json:"settle"`
	// Watchdog is the sched_ext watchdog timeout the guest asks the kernel
	// for: the configured one × Overcommit (emulation slows everything
	// alike, but overcommit starves vCPUs); zero without a scheduler.
	Watchdog time.Duration `json:"watchdog"`
	// MonitorInterval is the host monitor's sampling period, and
	// MonitorSettle how long after the test function starts it takes its
	// first sample (workers starting up are not judged).
	MonitorInterval time.Duration `json:"monitor_interval"`
	MonitorSettle   time.Duration `json:"monitor_settle"`
	// Host is the host-side limit of the whole VM: more than every
	// guest-side limit together, so that the guest's own limits, which
	// explain themselves, fire first.
	Host time.Duration `json:"host"`
}

// Limit is the longest any computed duration may be: absurd inputs
// saturate here instead of overflowing into "no limit".
const Limit = 48 * time.Hour

// New returns the budget of a run. Nonsensical inputs (no vCPUs, no host
// CPUs) count as one.
func New(in Input) Budget {
	vcpus, host := max(in.VCPUs, 1), max(in.HostCPUs, 1)
	over := max(float64(vcpus)/float64(host), 1)
	b := Budget{Overcommit: over, Accel: in.Accel}
	if in.Accel == "kvm" {
		b.Slowdown, b.Scale = over, over
		b.Boot = sat(20*time.Second + scaled(time.Second, over))
	} else {
		// Measured here: a 2-vCPU TCG guest boots in about 2-3 s and an
		// 8-vCPU one on 2 host CPUs in about 6 s; allow several times that.
		b.Slowdown, b.Scale = 4*over, 2*over
		b.Boot = sat(30*time.Second + scaled(4*time.Second, over))
	}
	b.Test = scaled(in.Duration+20*time.Second, b.Slowdown)
	b.Settle = scaled(500*time.Millisecond, b.Slowdown)
	b.MonitorInterval = 100 * time.Millisecond
	b.MonitorSettle = scaled(time.Second, over)
	if in.Scheduler {
		b.SentinelReady = scaled(5*time.Second, b.Slowdown)
		b.Attach = scaled(5*time.Second, b.Slowdown)
		b.Stop = scaled(5*time.Second, b.Slowdown)
		b.Watchdog = scaled(in.Watchdog, over)
	}
	// Everything in the guest, one after another, plus power-off.
	b.Host = sat(b.Boot + b.SentinelReady + b.Attach + b.Test + b.Watchdog + b.Stop + 3*b.Settle + 10*time.Second)
	return b
}

// scaled returns d × f, saturating at Limit.
func scaled(d time.Duration, f float64) time.Duration {
	v := float64(d) * f
	if math.IsNaN(v) || v >= float64(Limit) {
		return Limit
	}
	if v < 0 {
		return 0
	}
	return time.Duration(v)
}

func sat(d time.Duration) time.Duration {
	if d > Limit || d < 0 {
		return Limit
	}
	return d
}

func (b Budget) String() string {
	return fmt.Sprintf("limits x%.1f, boot allowance %s, check thresholds x%.1f", b.Slowdown, b.Boot.Round(time.Second), b.Scale)
}
