package workload

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shmSize is the size of every shared segment: one page holds all words.
const shmSize = 4096

// shm is a page of memory shared between processes: a memfd mapped
// MAP_SHARED. The parent creates it and hands the fd to the workers, which
// map it themselves.
type shm struct {
	file *os.File // nil in a worker, which only keeps the mapping
	mem  []byte
}

// newShm creates and maps a shared page named name (the name only shows in
// /proc/PID/maps).
func newShm(name string) (*shm, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if err := f.Truncate(shmSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("size memfd %s: %w", name, err)
	}
	mem, err := mapShm(fd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map memfd %s: %w", name, err)
	}
	return &shm{file: f, mem: mem}, nil
}

// attachShm maps the shared page behind an inherited fd and closes the fd.
func attachShm(fd int) (*shm, error) {
	mem, err := mapShm(fd)
	unix.Close(fd)
	if err != nil {
		return nil, fmt.Errorf("map shared memory fd %d: %w", fd, err)
	}
	return &shm{mem: mem}, nil
}

func mapShm(fd int) ([]byte, error) {
	return unix.Mmap(fd, 0, shmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// close unmaps the page and closes the memfd, if held.
func (s *shm) close() {
	if s == nil {
		return
	}
	if s.mem != nil {
		_ = unix.Munmap(s.mem)
		s.mem = nil
	}
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// ctrlPage is the layout of the control page every worker of a Set maps.
type ctrlPage struct {
	// Go becomes 1 when the parent releases the workers (futex word).
	Go uint32
	// Stop becomes 1 when the parent stops them (futex word; sleeps wait
	// on it so a stop interrupts them).
	Stop uint32
	// Released and Stopped are the CLOCK_MONOTONIC times of release and
	// stop, written before Go and Stop.
	Released int64
	Stopped  int64
}

// groupPage is the layout of the page a group of workers shares.
type groupPage struct {
	// Word is the futex word of the group: whose turn it is (FutexPingPong),
	// the wake generation (FutexFanOut) or the mutex state
	// (MutexContention).
	Word uint32
	// Acks counts the waiters that saw the current generation (FutexFanOut).
	Acks uint32
	_    [56]byte // keep the timestamps off the futex line
	// WakeTs holds, per role, the CLOCK_MONOTONIC time at which that role
	// last woke a peer.
	WakeTs [maxGroup]int64
	// Counter is shared state the critical section of MutexContention
	// updates.
	Counter uint64
}

// maxGroup bounds the group size so that a group's page holds one
// timestamp per member.
const maxGroup = 256

// Both layouts must fit in a page (a negative array length does not
// compile).
var (
	_ [shmSize - unsafe.Sizeof(groupPage{})]byte
	_ [shmSize - unsafe.Sizeof(ctrlPage{})]byte
)

func (s *shm) ctrl() *ctrlPage   { return (*ctrlPage)(unsafe.Pointer(&s.mem[0])) }
func (s *shm) group() *groupPage { return (*groupPage)(unsafe.Pointer(&s.mem[0])) }
