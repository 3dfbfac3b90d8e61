package workload

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const (
	// cacheSteps is the number of strided writes of a CachePressure
	// iteration.
	cacheSteps = 1 << 12
	// faultPages is the number of pages PageFaultChurn maps and touches per
	// iteration.
	faultPages = 64
)

// mapAnon maps n bytes of private anonymous memory. The buffers of the work
// types are mapped rather than allocated from the Go heap so that their
// pages are first touched, and placed by the memory policy, on the work
// thread.
func mapAnon(n int) ([]byte, error) {
	page := os.Getpagesize()
	n = (n + page - 1) / page * page
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes: %w", n, err)
	}
	return b, nil
}

func (w *worker) cachePressure() (loop, error) {
	size, stride := w.spec.Kind.Size, w.spec.Kind.Stride
	buf, err := mapAnon(size)
	if err != nil {
		return nil, err
	}
	buf = buf[:size]
	return func(c *Control) error {
		defer unix.Munmap(buf[:cap(buf)])
		pos := 0
		for c.Running() {
			for range cacheSteps {
				buf[pos]++
				if pos += stride; pos >= size {
					pos %= size
				}
			}
			c.Progress(cacheSteps)
		}
		return nil
	}, nil
}

func (w *worker) pageFaultChurn() (loop, error) {
	page := os.Getpagesize()
	return func(c *Control) error {
		for c.Running() {
			b, err := mapAnon(faultPages * page)
			if err != nil {
				return err
			}
			for p := 0; p < len(b); p += page {
				b[p] = 1
			}
			if err := unix.Munmap(b); err != nil {
				return fmt.Errorf("unmap: %w", err)
			}
			c.Progress(faultPages)
		}
		return nil
	}, nil
}
