package workload

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The clock of every timestamp in this package is CLOCK_MONOTONIC in
// nanoseconds, the clock the kernel's timers and futex timeouts use and the
// same in every process of the machine, so that a timestamp written by one
// worker can be compared with the clock of another.
//
// Reading it with clock_gettime(2) costs a full system call from Go, while
// time.Now reads the same clock through the vDSO. monoNow therefore adds a
// per-process offset, measured once, to the monotonic reading of the time
// package.
var clock struct {
	once sync.Once
	ref  time.Time // a time with a monotonic reading
	base int64     // CLOCK_MONOTONIC at ref, in nanoseconds
}

// monoNow returns CLOCK_MONOTONIC in nanoseconds.
func monoNow() int64 {
	clock.once.Do(calibrate)
	return clock.base + int64(time.Since(clock.ref))
}

// calibrate sets the offset between the time package's monotonic clock and
// CLOCK_MONOTONIC. Both are the same clock; a clock_gettime(2) call is
// bracketed by two time.Since readings and the narrowest bracket of a few
// tries wins, so the error is below half the cost of one system call.
func calibrate() {
	clock.ref = time.Now()
	best := time.Duration(1<<63 - 1)
	for range 32 {
		var ts unix.Timespec
		t0 := time.Since(clock.ref)
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			continue // cannot happen on Linux; keep the last good offset
		}
		t1 := time.Since(clock.ref)
		if w := t1 - t0; w < best {
			best = w
			clock.base = ts.Nano() - int64(t0+w/2)
		}
	}
}

// getcpu returns the CPU the calling thread is running on, or -1.
func getcpu() int {
	var cpu, node uint32
	_, _, errno := unix.RawSyscall(unix.SYS_GETCPU, uintptrOf(&cpu), uintptrOf(&node), 0)
	if errno != 0 {
		return -1
	}
	return int(cpu)
}
