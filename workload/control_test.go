package workload

import (
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReservoirKeepsAllWhileNotFull(t *testing.T) {
	r := newReservoir(8, 1)
	for i := range 5 {
		r.add(time.Duration(i))
	}
	got := r.values()
	if r.count != 5 || len(got) != 5 {
		t.Fatalf("count %d, sample %v", r.count, got)
	}
	for i, v := range got {
		if v != time.Duration(i) {
			t.Errorf("sample[%d] = %v, want %v", i, v, i)
		}
	}
	if empty := newReservoir(8, 1); empty.values() != nil {
		t.Errorf("empty reservoir values = %v, want nil", empty.values())
	}
}

// TestReservoirUniform feeds 0..n-1 and checks that the sample looks like a
// uniform draw: every tenth of the stream is about equally represented.
func TestReservoirUniform(t *testing.T) {
	const n = 200_000
	r := newReservoir(reservoirSize, 42)
	for i := range n {
		r.add(time.Duration(i))
	}
	if r.count != n || len(r.sample) != reservoirSize {
		t.Fatalf("count %d, sample size %d", r.count, len(r.sample))
	}
	var bins [10]int
	seen := map[time.Duration]bool{}
	for _, v := range r.sample {
		if v < 0 || v >= n || seen[v] {
			t.Fatalf("sample value %v out of range or repeated", v)
		}
		seen[v] = true
		bins[int(v)*10/n]++
	}
	// Expected 102.4 per bin; chi-square with 9 degrees of freedom stays
	// below 27.9 with probability 0.999.
	var chi2 float64
	for _, b := range bins {
		d := float64(b) - reservoirSize/10.0
		chi2 += d * d / (reservoirSize / 10.0)
	}
	if chi2 > 27.9 {
		t.Errorf("sample not uniform: bins %v, chi-square %.1f", bins, chi2)
	}
}

func TestProgress(t *testing.T) {
	var stop uint32
	c := newControl(7, &stop, 1)
	c.begin(monoNow())
	c.Progress(2)
	time.Sleep(20 * time.Millisecond)
	c.Progress(3)
	var r Report
	c.fill(&r)
	if r.WorkUnits != 5 || r.Iterations != 2 {
		t.Errorf("units %d iterations %d, want 5 and 2", r.WorkUnits, r.Iterations)
	}
	if r.MaxGap < 20*time.Millisecond || r.MaxGapAt < r.MaxGap {
		t.Errorf("max gap %v at %v, want >= 20ms and at >= gap", r.MaxGap, r.MaxGapAt)
	}
	if len(r.CPUs) == 0 || r.MaxGapCPU < 0 {
		t.Errorf("CPUs %v, max gap CPU %d", r.CPUs, r.MaxGapCPU)
	}
	if uint64(len(r.CPUs)) > r.Migrations+1 {
		t.Errorf("%d CPUs seen with %d migrations", len(r.CPUs), r.Migrations)
	}
	if c.Index() != 7 || !c.Running() {
		t.Errorf("Index %d Running %v", c.Index(), c.Running())
	}
	atomic.StoreUint32(&stop, 1)
	if c.Running() {
		t.Error("Running after stop")
	}
}

func TestCPUSetList(t *testing.T) {
	var s cpuSet
	for _, c := range []int{130, 3, 64, 3, 0} {
		s.add(c)
	}
	got := s.list()
	want := []int{0, 3, 64, 130}
	if len(got) != len(want) {
		t.Fatalf("list() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("list() = %v, want %v", got, want)
		}
	}
}

func TestSleep(t *testing.T) {
	var stop uint32
	c := newControl(0, &stop, 1)
	c.begin(monoNow())
	start := time.Now()
	if !c.Sleep(5 * time.Millisecond) {
		t.Fatal("Sleep reported a stop")
	}
	if el := time.Since(start); el < 5*time.Millisecond {
		t.Errorf("slept %v, want >= 5ms", el)
	}
	if c.wake.count != 1 || c.wake.sample[0] < 0 || c.wake.sample[0] > time.Second {
		t.Errorf("wake latencies %v (count %d)", c.wake.sample, c.wake.count)
	}

	// A stop ends a sleep at once.
	go func() {
		time.Sleep(20 * time.Millisecond)
		storeWake(&stop, 1)
	}()
	start = time.Now()
	if c.Sleep(time.Minute) {
		t.Error("Sleep did not report the stop")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("stop took %v to end the sleep", el)
	}
}

// TestMonoNow checks that monoNow reads CLOCK_MONOTONIC: a reading falls
// between two clock_gettime(2) readings taken around it (within the
// calibration error).
func TestMonoNow(t *testing.T) {
	const slack = int64(20 * time.Microsecond)
	inside := 0
	for range 100 {
		var a, b unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &a); err != nil {
			t.Fatal(err)
		}
		m := monoNow()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if a.Nano()-slack <= m && m <= b.Nano()+slack {
			inside++
		}
	}
	if inside < 50 {
		t.Errorf("monoNow() fell between two clock_gettime readings (±20µs) %d times in 100", inside)
	}
}
