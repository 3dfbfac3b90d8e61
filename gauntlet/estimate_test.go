package gauntlet

import (
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

func cpus(n int) topology.Topology { return topology.New(1, 1, n, 1) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestEstimateCalibration(t *testing.T) {
	tcg2 := Host{Accel: "tcg", CPUs: 2}
	kvm := Host{Accel: "kvm", CPUs: 2}
	for _, tc := range []struct {
		vcpus    int
		h        Host
		d        time.Duration
		schedExt bool
		want     time.Duration
	}{
		// The measured points: boot + 1 s teardown.
		{4, tcg2, 0, false, ms(2950 + 1000)},
		{8, tcg2, 0, false, ms(5790 + 1000)},
		{16, tcg2, 0, false, ms(15900 + 1000)},
		{32, tcg2, 0, false, ms(37100 + 1000)},
		{64, tcg2, 0, false, ms(132600 + 1000)},
		// Between points: linear (r = 3: halfway between 2.95 and 5.79).
		{6, tcg2, 0, false, ms(4370 + 1000)},
		// Beyond: the last slope, 95.5 s per 16, so r = 64 is 132.6 + 191.
		{128, tcg2, 0, false, ms(323600 + 1000)},
		// Below r = 2: 2.95 s · r/2, floored at 2 s.
		{3, tcg2, 0, false, ms(2213 + 1000)},
		{2, tcg2, 0, false, ms(2000 + 1000)},
		{1, tcg2, 0, false, ms(2000 + 1000)},
		// The ratio counts, not the vCPUs: 8 on 4 host CPUs is r = 2.
		{8, Host{Accel: "tcg", CPUs: 4}, 0, false, ms(2950 + 1000)},
		// Host CPUs below 1 count as 1; anything but kvm is TCG.
		{2, Host{}, 0, false, ms(2950 + 1000)},
		// Duration and sched_ext attach add.
		{4, tcg2, 10 * time.Second, false, ms(2950 + 10000 + 1000)},
		{4, tcg2, 10 * time.Second, true, ms(2950 + 10000 + 1500 + 1000)},
		{4, tcg2, -time.Second, false, ms(2950 + 1000)},
		// KVM: 2 s + 20 ms per vCPU + d + 1 s, whatever the host.
		{4, kvm, 0, false, ms(2000 + 80 + 1000)},
		{252, kvm, 5 * time.Second, true, ms(2000 + 5040 + 5000 + 1000)},
	} {
		if got := Estimate(cpus(tc.vcpus), tc.h, tc.d, tc.schedExt); got != tc.want {
			t.Errorf("Estimate(%d vCPUs, %+v, %v, %v) = %v, want %v", tc.vcpus, tc.h, tc.d, tc.schedExt, got, tc.want)
		}
	}
}

func TestEstimateMonotonic(t *testing.T) {
	for _, accel := range []string{"tcg", "kvm"} {
		for hc := 1; hc <= 16; hc++ {
			h := Host{Accel: accel, CPUs: hc}
			for _, d := range []time.Duration{0, time.Second, time.Minute} {
				for _, se := range []bool{false, true} {
					prev := time.Duration(0)
					for n := 1; n <= topology.MaxCPUs; n++ {
						e := Estimate(cpus(n), h, d, se)
						if e < prev {
							t.Fatalf("%s on %d CPUs, d %v: %d vCPUs estimate %v < %d vCPUs' %v", accel, hc, d, n, e, n-1, prev)
						}
						if longer := Estimate(cpus(n), h, d+time.Second, se); longer != e+time.Second {
							t.Fatalf("%s: a second more of test gives %v, want %v", accel, longer, e+time.Second)
						}
						if se && e < Estimate(cpus(n), h, d, false) {
							t.Fatalf("%s: sched_ext estimate below EEVDF's", accel)
						}
						if accel == "tcg" && hc > 1 && e > Estimate(cpus(n), Host{Accel: accel, CPUs: hc - 1}, d, se) {
							t.Fatalf("tcg: %d vCPUs on %d host CPUs slower than on %d", n, hc, hc-1)
						}
						prev = e
					}
				}
			}
		}
	}
}
