package vm

import (
	"fmt"
	"runtime"
	"time"
)

// Budget is a time allowance that accounts for the accelerator and for
// vCPUs outnumbering host CPUs.
type Budget struct {
	// Slowdown multiplies guest-side time: 1 under KVM; under TCG 4, times
	// vCPUs per host CPU when vCPUs outnumber host CPUs.
	Slowdown float64
	// Boot is the allowance for QEMU start, kernel boot and guest init.
	Boot time.Duration
	// Overcommit is vCPUs per host CPU, at least 1.
	Overcommit float64
	// Scale is the factor time-based check thresholds (scheduling gaps,
	// wake-up latencies) are scaled by: Overcommit under KVM, twice that
	// under TCG, where every guest instruction is emulated and a vCPU
	// thread competes with QEMU's own threads.
	Scale float64
}

// NewBudget returns the budget of a VM with vcpus vCPUs under accel on this
// host.
func NewBudget(accel Accel, vcpus int) Budget {
	return newBudget(accel, vcpus, runtime.NumCPU())
}

func newBudget(accel Accel, vcpus, hostCPUs int) Budget {
	if hostCPUs < 1 {
		hostCPUs = 1
	}
	over := float64(vcpus) / float64(hostCPUs)
	if over < 1 {
		over = 1
	}
	if accel == KVM {
		return Budget{Slowdown: 1, Overcommit: over, Scale: over, Boot: 20*time.Second + time.Duration(over*float64(time.Second))}
	}
	// Measured here: a 2-vCPU TCG guest boots in about 2-3 s and an
	// 8-vCPU one on 2 host CPUs in about 6 s; allow several times that.
	return Budget{Slowdown: 4 * over, Overcommit: over, Scale: 2 * over, Boot: 30*time.Second + time.Duration(over*4*float64(time.Second))}
}

// Host returns the host-side limit for a VM whose guest work takes work on
// real hardware: boot plus work scaled by Slowdown, with room to power off.
func (b Budget) Host(work time.Duration) time.Duration {
	return b.Boot + time.Duration(float64(work)*b.Slowdown) + 10*time.Second
}

// Guest scales a guest-side allowance by Slowdown.
func (b Budget) Guest(work time.Duration) time.Duration {
	return time.Duration(float64(work) * b.Slowdown)
}

func (b Budget) String() string {
	return fmt.Sprintf("time limits x%.1f, boot allowance %s, check thresholds x%.1f", b.Slowdown, b.Boot, b.Scale)
}
