package gauntlet

import (
	"math"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

// MaxTCGRatio is the most vCPUs per host CPU a variant may have under TCG;
// Expand skips guests above it.
//
// Measured under TCG (-accel tcg,thread=multi) on a 2-core machine: the
// time for `ktstr topo SHAPE` to boot a guest, report its topology and power
// off was 2.95 s with 4 vCPUs, 5.79 s with 8, 15.9 s with 16, 37.1 s with 32
// and 132.6 s with 64. The growth is superlinear: at 8 vCPUs per host CPU
// (16 vCPUs there) a guest still boots in about 16 s, at 16 per CPU it
// takes 37 s before the test even starts, and a scheduler test in such a
// guest measures the emulator more than the scheduler.
const MaxTCGRatio = 8

// tcgBoot is the measured TCG boot time (seconds) by vCPUs per host CPU,
// from the measurements in MaxTCGRatio's comment (r = vCPUs / 2).
var tcgBoot = []struct{ r, s float64 }{
	{2, 2.95},
	{4, 5.79},
	{8, 15.9},
	{16, 37.1},
	{32, 132.6},
}

// tcgBootSeconds interpolates tcgBoot piecewise linearly at r, extrapolates
// linearly beyond the last point from the last two, and below the first
// scales the first point proportionally, floored at 2 s.
func tcgBootSeconds(r float64) float64 {
	first := tcgBoot[0]
	if r < first.r {
		return math.Max(first.s*r/first.r, 2)
	}
	for i := 1; i < len(tcgBoot); i++ {
		a, b := tcgBoot[i-1], tcgBoot[i]
		if r <= b.r || i == len(tcgBoot)-1 {
			return a.s + (r-a.r)*(b.s-a.s)/(b.r-a.r)
		}
	}
	panic("unreachable")
}

// Cost model constants of Estimate.
const (
	schedExtAttach = 1500 * time.Millisecond // a sched_ext scheduler's load and attach (TCG)
	teardown       = time.Second             // guest power-off and VM teardown
	kvmBoot        = 2 * time.Second         // KVM boot, fixed part
	kvmBootPerCPU  = 20 * time.Millisecond   // KVM boot, per vCPU
)

// Estimate is the expected wall time of one variant's VM on host h: boot,
// then the test's duration d, then teardown.
//
// Under TCG (any Host.Accel but "kvm") boot is calibrated on the
// measurements in MaxTCGRatio's comment as a function of r = vCPUs / host
// CPUs: piecewise-linear between the measured points (r = 2: 2.95 s, 4:
// 5.79 s, 8: 15.9 s, 16: 37.1 s, 32: 132.6 s), extrapolated linearly
// beyond r = 32 from the last two points, and 2.95 s · r/2, floored at 2 s,
// below r = 2. A sched_ext scheduler (schedExt) adds 1.5 s for its load
// and attach; teardown adds 1 s.
//
// Under KVM, which the calibration machine could not run, boot is a guess:
// 2 s plus 0.02 s per vCPU; teardown adds 1 s. schedExt does not change
// the KVM estimate, and overcommitted KVM guests are not modelled.
//
// Host CPUs below 1 count as 1 and a negative d as 0. The estimate never
// decreases with more vCPUs or a longer d, and under TCG never increases
// with more host CPUs.
func Estimate(t topology.Topology, h Host, d time.Duration, schedExt bool) time.Duration {
	d = max(d, 0)
	vcpus := t.CPUs()
	if h.kvm() {
		return kvmBoot + time.Duration(vcpus)*kvmBootPerCPU + d + teardown
	}
	r := float64(vcpus) / float64(h.cpus())
	boot := time.Duration(math.Round(tcgBootSeconds(r)*1000)) * time.Millisecond
	est := boot + d + teardown
	if schedExt {
		est += schedExtAttach
	}
	return est
}
