package workload

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// loop is a prepared work loop: it runs until c.Running turns false, or
// fails.
type loop func(c *Control) error

// runners prepares the work loop of each work type in a worker process.
// Preparation (buffers, files, the group's shared page) happens before the
// worker reports ready, so that its errors fail Start.
var runners = map[string]func(w *worker) (loop, error){
	TypeCpuSpin:         (*worker).cpuSpin,
	TypeYieldHeavy:      (*worker).yieldHeavy,
	TypeMixed:           (*worker).mixed,
	TypeBursty:          (*worker).bursty,
	TypeIoSync:          (*worker).ioSync,
	TypePipeIo:          (*worker).pipeIo,
	TypeFutexPingPong:   (*worker).futexPingPong,
	TypeFutexFanOut:     (*worker).futexFanOut,
	TypeMutexContention: (*worker).mutexContention,
	TypeCachePressure:   (*worker).cachePressure,
	TypePageFaultChurn:  (*worker).pageFaultChurn,
	TypeForkExit:        (*worker).forkExit,
	TypeNiceSweep:       (*worker).niceSweep,
	TypeAffinityChurn:   (*worker).affinityChurn,
	TypePolicyChurn:     (*worker).policyChurn,
	TypeSequence:        (*worker).sequence,
	TypeCustom:          (*worker).custom,
}

// Sizes of the building blocks of the loops.
const (
	// spinBatch is the number of xorshift steps of a spin batch, the unit
	// of the spinning work types: some tens of microseconds.
	spinBatch = 1 << 15
	// smallSpin is the work between two yields, wakes or lock
	// acquisitions.
	smallSpin = 1 << 8
	// mixedSleep is Mixed's sleep.
	mixedSleep = 100 * time.Microsecond
)

// spin does n steps of xorshift arithmetic.
func (w *worker) spin(n int) {
	x := w.acc
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	w.acc = x
}

// spinFor spins in batches for d, a checkpoint after each batch.
func (w *worker) spinFor(c *Control, d time.Duration) {
	end := monoNow() + int64(d)
	for c.Running() && monoNow() < end {
		w.spin(spinBatch)
		c.Progress(1)
	}
}

func schedYield() {
	_, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}

func (w *worker) cpuSpin() (loop, error) {
	return func(c *Control) error {
		for c.Running() {
			w.spin(spinBatch)
			c.Progress(1)
		}
		return nil
	}, nil
}

func (w *worker) yieldHeavy() (loop, error) {
	return func(c *Control) error {
		for c.Running() {
			w.spin(smallSpin)
			schedYield()
			c.Progress(1)
		}
		return nil
	}, nil
}

func (w *worker) mixed() (loop, error) {
	return func(c *Control) error {
		for c.Running() {
			w.spin(spinBatch)
			schedYield()
			c.Sleep(mixedSleep)
			c.Progress(1)
		}
		return nil
	}, nil
}

func (w *worker) bursty() (loop, error) {
	burst, sleep := w.spec.Kind.Burst, w.spec.Kind.Sleep
	return func(c *Control) error {
		for c.Running() {
			w.spinFor(c, burst)
			c.Sleep(sleep)
		}
		return nil
	}, nil
}

func (w *worker) sequence() (loop, error) {
	phases := w.spec.Kind.Phases
	var iof *ioFile
	for _, p := range phases {
		if p.Op == OpIo && iof == nil {
			f, err := openIoFile()
			if err != nil {
				return nil, err
			}
			iof = f
		}
	}
	return func(c *Control) error {
		defer iof.close()
		for c.Running() {
			for _, p := range phases {
				if !c.Running() {
					break
				}
				end := monoNow() + int64(p.Dur)
				switch p.Op {
				case OpSpin:
					w.spinFor(c, p.Dur)
				case OpSleep:
					if c.Sleep(p.Dur) {
						c.Progress(1)
					}
				case OpYield:
					for c.Running() && monoNow() < end {
						schedYield()
						c.Progress(1)
					}
				case OpIo:
					for c.Running() && monoNow() < end {
						if err := iof.block(); err != nil {
							return err
						}
						c.Progress(1)
					}
				}
			}
		}
		return nil
	}, nil
}

func (w *worker) custom() (loop, error) {
	name := w.spec.Kind.Name
	if err := checkCustom(name); err != nil {
		return nil, err
	}
	fn, _ := lookupCustom(name)
	return func(c *Control) error {
		if err := fn(c); err != nil {
			return fmt.Errorf("custom work type %q: %w", name, err)
		}
		return nil
	}, nil
}

// errPeerGone is returned by a group member whose peer vanished while the
// Set was still running.
var errPeerGone = errors.New("a peer of the group exited while running")
