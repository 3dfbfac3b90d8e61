package monitor

import (
	"encoding/binary"
	"fmt"

	"github.com/ktstr-go/ktstr/verify"
)

// Sampler reads each CPU's runqueue.
type Sampler struct {
	k   *Kernel
	t   *Translator
	rqs []uint64 // virtual address of each CPU's struct rq
	buf []byte
}

// NewSampler finds the runqueues of the guest's first cpus CPUs: each is
// the per-CPU variable runqueues at that CPU's __per_cpu_offset. It fails
// when the guest reports fewer CPUs than that (nr_cpu_ids) or a per-CPU
// offset is not set yet.
func NewSampler(k *Kernel, t *Translator, cpus int) (*Sampler, error) {
	n, err := t.readImage32("nr_cpu_ids")
	if err != nil {
		return nil, err
	}
	if int(n) < cpus {
		return nil, fmt.Errorf("monitor: the guest kernel has %d CPU ids, want %d: %w", n, cpus, ErrNotReady)
	}
	offs := make([]byte, 8*cpus)
	if err := t.Read(k.syms["__per_cpu_offset"], offs); err != nil {
		return nil, err
	}
	s := &Sampler{k: k, t: t, buf: make([]byte, 8)}
	for c := 0; c < cpus; c++ {
		off := binary.LittleEndian.Uint64(offs[8*c:])
		if off == 0 && c > 0 {
			return nil, fmt.Errorf("monitor: __per_cpu_offset[%d] is 0: %w", c, ErrNotReady)
		}
		s.rqs = append(s.rqs, off+k.syms["runqueues"])
	}
	return s, nil
}

// CPUs returns how many CPUs the sampler reads.
func (s *Sampler) CPUs() int { return len(s.rqs) }

// Sample reads every CPU's runqueue fields into out (one per CPU).
func (s *Sampler) Sample(out []verify.CPUSample) error {
	l := s.k.rq
	for c, rq := range s.rqs {
		var cs verify.CPUSample
		v, err := s.read(rq, l.nrRunning)
		if err != nil {
			return fmt.Errorf("monitor: CPU %d rq->nr_running: %w", c, err)
		}
		cs.NrRunning = uint32(v)
		if cs.Clock, err = s.read(rq, l.clock); err != nil {
			return fmt.Errorf("monitor: CPU %d rq->clock: %w", c, err)
		}
		if l.hasScx {
			if v, err = s.read(rq, l.scxRunning); err != nil {
				return fmt.Errorf("monitor: CPU %d rq->scx.nr_running: %w", c, err)
			}
			cs.ScxNrRunning = uint32(v)
			if v, err = s.read(rq, l.scxDSQ); err != nil {
				return fmt.Errorf("monitor: CPU %d rq->scx.local_dsq.nr: %w", c, err)
			}
			cs.LocalDSQ = uint32(v)
		}
		out[c] = cs
	}
	return nil
}

// read reads the little-endian field f of the struct at va.
func (s *Sampler) read(va uint64, f field) (uint64, error) {
	b := s.buf[:f.size]
	if err := s.t.Read(va+uint64(f.off), b); err != nil {
		return 0, err
	}
	switch f.size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	case 8:
		return binary.LittleEndian.Uint64(b), nil
	}
	return 0, fmt.Errorf("field of %d bytes", f.size)
}
