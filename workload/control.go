package workload

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// reservoirSize is how many wake-up latencies a worker keeps.
const reservoirSize = 1024

// Control is a worker's view of its run: whether to keep going, and the
// measurements its work loop feeds. Every work type, and every Custom
// function, loops
//
//	for c.Running() {
//		// ... some work ...
//		c.Progress(units)
//	}
//
// A Control belongs to the worker's work thread; its methods are not safe
// for concurrent use.
type Control struct {
	index int
	stop  *uint32     // the Set's stop word (shared memory)
	lost  atomic.Bool // the parent went away

	start int64 // release, CLOCK_MONOTONIC ns
	last  int64 // previous checkpoint (start before the first)

	units, iters uint64

	maxGap, maxGapAt int64
	maxGapCPU        int

	cpu        int // CPU at the previous checkpoint, -1 if unknown
	migrations uint64
	cpus       cpuSet

	wake reservoir
}

// newControl returns a Control for the worker index that stops when *stop
// becomes non-zero. Its clock starts at begin.
func newControl(index int, stop *uint32, seed uint64) *Control {
	return &Control{index: index, stop: stop, cpu: -1, maxGapCPU: -1, wake: newReservoir(reservoirSize, seed)}
}

// begin starts the measurements at the CLOCK_MONOTONIC time start (the
// release of the workers).
func (c *Control) begin(start int64) {
	c.start, c.last = start, start
	if cpu := getcpu(); cpu >= 0 {
		c.cpu = cpu
		c.cpus.add(cpu)
	}
}

// Index is the worker's index in its Set.
func (c *Control) Index() int { return c.index }

// Running reports whether the worker should go on: false once the Set is
// stopped (or the process that started it went away).
func (c *Control) Running() bool {
	return atomic.LoadUint32(c.stop) == 0 && !c.lost.Load()
}

// Progress is the checkpoint of a work loop, called once per outer
// iteration with the number of work units the iteration did. It counts the
// units and the iteration; measures the gap since the previous checkpoint
// (or since the release, for the first one) on CLOCK_MONOTONIC and keeps
// the longest; reads the current CPU with getcpu(2), counts a migration
// when it differs from the CPU of the previous checkpoint, and adds it to
// the set of CPUs seen.
func (c *Control) Progress(units uint64) {
	now := monoNow()
	cpu := getcpu()
	if gap := now - c.last; gap > c.maxGap {
		c.maxGap, c.maxGapAt, c.maxGapCPU = gap, now-c.start, cpu
	}
	c.last = now
	if cpu >= 0 {
		if c.cpu >= 0 && cpu != c.cpu {
			c.migrations++
		}
		c.cpu = cpu
		c.cpus.add(cpu)
	}
	c.units += units
	c.iters++
}

// WakeLatency records one wake-up latency: the time from the moment the
// worker was made runnable (a peer woke it, or its timer was due) to the
// moment it ran again. Negative values count as zero. A uniform sample of
// 1024 of them (reservoir sampling) and their total count are reported.
func (c *Control) WakeLatency(d time.Duration) { c.wake.add(max(d, 0)) }

// Sleep sleeps for d on CLOCK_MONOTONIC, or until the Set is stopped, and
// records the lateness of the wake-up (actual wake time minus the intended
// one) with WakeLatency. It reports whether the worker is still running.
// Use it rather than time.Sleep in work loops: it is a single futex wait of
// this thread, woken by the kernel's timer, and a stop ends it at once.
func (c *Control) Sleep(d time.Duration) bool {
	if d <= 0 {
		return c.Running()
	}
	deadline := monoNow() + int64(d)
	for c.Running() {
		err := futexWaitUntil(c.stop, 0, deadline)
		if now := monoNow(); err == unix.ETIMEDOUT || now >= deadline {
			c.WakeLatency(time.Duration(now - deadline))
			return c.Running()
		}
	}
	return false
}

// fill copies the measurements into r.
func (c *Control) fill(r *Report) {
	r.WorkUnits, r.Iterations = c.units, c.iters
	r.MaxGap, r.MaxGapAt, r.MaxGapCPU = time.Duration(c.maxGap), time.Duration(c.maxGapAt), c.maxGapCPU
	r.Migrations, r.CPUs = c.migrations, c.cpus.list()
	r.WakeLatencies, r.WakeCount = c.wake.values(), c.wake.count
}

// reservoir keeps a uniform sample of a stream of latencies (Vitter's
// Algorithm R).
type reservoir struct {
	size   int
	sample []time.Duration
	count  uint64
	rng    *rand.Rand
}

func newReservoir(size int, seed uint64) reservoir {
	return reservoir{size: size, rng: rand.New(rand.NewPCG(seed, 0x6b747374))}
}

// add offers the count-th value: it is kept with probability size/count,
// replacing a uniformly chosen one.
func (r *reservoir) add(d time.Duration) {
	r.count++
	if len(r.sample) < r.size {
		r.sample = append(r.sample, d)
		return
	}
	if j := r.rng.Uint64N(r.count); j < uint64(r.size) {
		r.sample[j] = d
	}
}

func (r *reservoir) values() []time.Duration {
	if len(r.sample) == 0 {
		return nil
	}
	return append([]time.Duration(nil), r.sample...)
}

// cpuSet is a growable bit set of CPU numbers.
type cpuSet []uint64

func (s *cpuSet) add(cpu int) {
	w := cpu / 64
	for len(*s) <= w {
		*s = append(*s, 0)
	}
	(*s)[w] |= 1 << (cpu % 64)
}

// list returns the CPUs in the set, ascending.
func (s cpuSet) list() []int {
	var out []int
	for w, word := range s {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			out = append(out, w*64+b)
			word &^= 1 << b
		}
	}
	return out
}
