package ktstr_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
)

// probe is the trivial test BenchmarkBoot measures; it is also the
// smallest complete VM test.
var probe = ktstr.Test{MemoryMB: 512}

func TestBootProbe(t *testing.T) {
	t.Parallel()
	ktstr.Run(t, probe, func(*ktstr.Ctx) (ktstr.AssertResult, error) { return ktstr.Pass(), nil })
}

const floorInitC = `#include <sys/reboot.h>
#include <unistd.h>
int main(void) {
	write(1, "ktstr-floor\n", 12);
	reboot(RB_POWER_OFF);
	return 1;
}
`

// BenchmarkBoot compares, in one run, a bare QEMU boot of the same kernel
// with a trivial static init that powers off at once (the floor) with a
// ktstr test VM (TestBootProbe's), and reports per op:
//
//	floor-s      wall time of the bare boot
//	to-fn-s      ktstr: from Run starting to the test function starting in the guest
//	total-s      ktstr: from Run starting to QEMU exiting
//	to-fn/floor  and total/floor: the ratios
//
// Run it with: go test -run '^$' -bench BenchmarkBoot -benchtime 5x .
func BenchmarkBoot(b *testing.B) {
	if ktstr.InGuest() {
		b.Skip("host-only")
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		b.Skip("gcc is needed to build the floor's trivial init")
	}
	dir := b.TempDir()
	src, bin := filepath.Join(dir, "init.c"), filepath.Join(dir, "init")
	if err := os.WriteFile(src, []byte(floorInitC), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(cc, "-static", "-Os", "-o", bin, src).CombinedOutput(); err != nil {
		b.Fatalf("build floor init: %v\n%s", err, out)
	}
	topo := ktstr.Topo(1, 1, 2, 1)
	var floor, toFn, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		floor += ktstr.BootFloor(b, bin, topo, probe.MemoryMB)
		f, t := ktstr.BootTest(b, "TestBootProbe", probe)
		toFn += f
		total += t
	}
	n := float64(b.N)
	b.ReportMetric(floor.Seconds()/n, "floor-s")
	b.ReportMetric(toFn.Seconds()/n, "to-fn-s")
	b.ReportMetric(total.Seconds()/n, "total-s")
	b.ReportMetric(toFn.Seconds()/floor.Seconds(), "to-fn/floor")
	b.ReportMetric(total.Seconds()/floor.Seconds(), "total/floor")
}

// monitorProbe is the test BenchmarkMonitor measures: two spinners under
// scx_simple for 4 s, where the monitor takes about 30 samples.
var monitorProbe = ktstr.Test{Scheduler: &scxSimple, Cores: 2, DurationS: 4, MemoryMB: 512}

func TestMonitorProbe(t *testing.T) {
	t.Parallel()
	ktstr.Run(t, monitorProbe, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		return ktstr.ExecuteDefs(ctx, ktstr.CgroupDef{Name: "spin", Workers: 2})
	})
}

// BenchmarkMonitor runs TestMonitorProbe's VM with the host-side monitor
// off and on, alternately, and reports per op:
//
//	off-s, on-s    wall time of the run without and with the monitor
//	on/off         their ratio
//	cpu-us/sample  the monitor's host CPU time per sample
//	samples        samples per run
//
// Run it with: go test -run '^$' -bench BenchmarkMonitor -benchtime 5x .
func BenchmarkMonitor(b *testing.B) {
	if ktstr.InGuest() {
		b.Skip("host-only")
	}
	var off, on, cpu time.Duration
	samples := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0, _, _ := ktstr.BootMonitored(b, "TestMonitorProbe", monitorProbe, false)
		t1, per, n := ktstr.BootMonitored(b, "TestMonitorProbe", monitorProbe, true)
		off, on, cpu, samples = off+t0, on+t1, cpu+per, samples+n
	}
	n := float64(b.N)
	b.ReportMetric(off.Seconds()/n, "off-s")
	b.ReportMetric(on.Seconds()/n, "on-s")
	b.ReportMetric(on.Seconds()/off.Seconds(), "on/off")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/sample")
	b.ReportMetric(float64(samples)/n, "samples")
}
