package workload

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations on words in shared memory: the words live in a memfd
// mapped MAP_SHARED by several processes, so the shared (non-private)
// variants are used.
const (
	futexWait       = 0
	futexWake       = 1
	futexWaitBitset = 9
	futexBitsetAny  = 0xffffffff

	// waitSlice bounds every blocking wait of a work loop, so that a loop
	// re-checks Control.Running at least this often even when no one wakes
	// it.
	waitSlice = 100 * time.Millisecond
)

func uintptrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// futexWaitFor sleeps while *addr == val, at most d. It returns nil when
// woken, unix.EAGAIN when *addr != val on entry, unix.ETIMEDOUT or
// unix.EINTR.
func futexWaitFor(addr *uint32, val uint32, d time.Duration) error {
	ts := unix.NsecToTimespec(int64(d))
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptrOf(addr), futexWait, uintptr(val), uintptrOf(&ts), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// futexWaitUntil sleeps while *addr == val until the CLOCK_MONOTONIC time
// deadline (nanoseconds). Errors as futexWaitFor.
func futexWaitUntil(addr *uint32, val uint32, deadline int64) error {
	ts := unix.NsecToTimespec(deadline)
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptrOf(addr), futexWaitBitset, uintptr(val), uintptrOf(&ts), 0, futexBitsetAny)
	if errno != 0 {
		return errno
	}
	return nil
}

// futexWakeN wakes up to n waiters on addr.
func futexWakeN(addr *uint32, n int) {
	_, _, _ = unix.Syscall(unix.SYS_FUTEX, uintptrOf(addr), futexWake, uintptr(n))
}

// futexWakeAll wakes every waiter on addr.
func futexWakeAll(addr *uint32) { futexWakeN(addr, math.MaxInt32) }

// storeWake stores v in *addr and wakes every waiter.
func storeWake(addr *uint32, v uint32) {
	atomic.StoreUint32(addr, v)
	futexWakeAll(addr)
}
