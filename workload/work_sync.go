package workload

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The group work types hand control between the workers of a group. A waker
// writes monoNow() into its WakeTs slot of the group's page right before it
// wakes a peer; the peer computes its wake latency as monoNow() minus that
// slot once it runs again.

// since returns the time elapsed from the CLOCK_MONOTONIC time ts.
func since(ts int64) time.Duration { return time.Duration(monoNow() - ts) }

func (w *worker) pipeIo() (loop, error) {
	if w.group == nil || w.spec.Fds.In < 0 || w.spec.Fds.Out < 0 {
		return nil, fmt.Errorf("missing pipes or shared page")
	}
	g, role := w.group, w.spec.Role
	peer := 1 - role
	in, out, life := w.spec.Fds.In, w.spec.Fds.Out, w.spec.Fds.Life
	return func(c *Control) error {
		send := func() error {
			atomic.StoreInt64(&g.WakeTs[role], monoNow())
			return writeByte(c, out)
		}
		if role == 0 {
			if err := send(); err != nil || !c.Running() {
				return err
			}
		}
		for c.Running() {
			ok, err := readByte(c, in, life)
			if err != nil || !ok {
				return err
			}
			c.WakeLatency(since(atomic.LoadInt64(&g.WakeTs[peer])))
			c.Progress(1)
			if err := send(); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// readByte waits for a byte on fd, in slices of waitSlice, while c is
// running. It returns false when the worker stopped. The life pipe is polled
// too: the parent closes it on Stop.
func readByte(c *Control, fd, life int) (bool, error) {
	var b [1]byte
	for c.Running() {
		fds := [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(life), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds[:], int(waitSlice/time.Millisecond)); err != nil && err != unix.EINTR {
			return false, fmt.Errorf("poll pipe: %w", err)
		}
		if fds[1].Revents != 0 {
			c.lost.Store(true) // the parent closed it: stop
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(fd, b[:])
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err != nil:
			return false, fmt.Errorf("read pipe: %w", err)
		case n == 0:
			return false, peerGone(c)
		}
		return true, nil
	}
	return false, nil
}

func writeByte(c *Control, fd int) error {
	for {
		_, err := unix.Write(fd, []byte{1})
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EPIPE:
			return peerGone(c)
		case err != nil:
			return fmt.Errorf("write pipe: %w", err)
		}
		return nil
	}
}

// peerGone is the error of a worker whose peer left: none when the Set is
// stopping anyway.
func peerGone(c *Control) error {
	if !c.Running() {
		return nil
	}
	return errPeerGone
}

func (w *worker) futexPingPong() (loop, error) {
	if w.group == nil {
		return nil, fmt.Errorf("missing shared page")
	}
	g, role := w.group, uint32(w.spec.Role)
	peer := 1 - role
	return func(c *Control) error {
		for c.Running() {
			// Wait for the turn: Word is the role whose turn it is.
			for atomic.LoadUint32(&g.Word) != role {
				if !c.Running() {
					return nil
				}
				_ = futexWaitFor(&g.Word, peer, waitSlice)
			}
			if ts := atomic.LoadInt64(&g.WakeTs[peer]); ts != 0 {
				c.WakeLatency(since(ts))
			}
			w.spin(smallSpin)
			c.Progress(1)
			atomic.StoreInt64(&g.WakeTs[role], monoNow())
			atomic.StoreUint32(&g.Word, peer)
			futexWakeN(&g.Word, 1)
		}
		return nil
	}, nil
}

// futexFanOut: role 0 is the waker, the others wait. Word is the wake
// generation; Acks counts the waiters that have seen the current one, and
// the waker starts the next generation only when all have, so every waiter
// is woken once per generation.
func (w *worker) futexFanOut() (loop, error) {
	if w.group == nil {
		return nil, fmt.Errorf("missing shared page")
	}
	g, n := w.group, uint32(w.spec.Kind.FanOut)
	if w.spec.Role == 0 {
		return func(c *Control) error {
			for gen := uint32(1); c.Running(); gen++ {
				w.spin(smallSpin)
				for a := atomic.LoadUint32(&g.Acks); gen > 1 && a < n; a = atomic.LoadUint32(&g.Acks) {
					if !c.Running() {
						return nil
					}
					_ = futexWaitFor(&g.Acks, a, waitSlice)
				}
				atomic.StoreUint32(&g.Acks, 0)
				atomic.StoreInt64(&g.WakeTs[0], monoNow())
				storeWake(&g.Word, gen)
				c.Progress(1)
			}
			return nil
		}, nil
	}
	return func(c *Control) error {
		for seen := uint32(0); c.Running(); {
			for atomic.LoadUint32(&g.Word) == seen {
				if !c.Running() {
					return nil
				}
				_ = futexWaitFor(&g.Word, seen, waitSlice)
			}
			seen = atomic.LoadUint32(&g.Word)
			c.WakeLatency(since(atomic.LoadInt64(&g.WakeTs[0])))
			w.spin(smallSpin)
			if atomic.AddUint32(&g.Acks, 1) == n {
				futexWakeN(&g.Acks, 1)
			}
			c.Progress(1)
		}
		return nil
	}, nil
}

// mutexContention uses the futex mutex of Drepper's "Futexes Are Tricky"
// (mutex3): Word is 0 when free, 1 when held, 2 when held with waiters. An
// unlocker that finds waiters stamps WakeTs[0] and wakes one; a waiter
// woken from FUTEX_WAIT records its latency from that stamp.
func (w *worker) mutexContention() (loop, error) {
	if w.group == nil {
		return nil, fmt.Errorf("missing shared page")
	}
	g := w.group
	m := &g.Word
	lock := func(c *Control) bool {
		v := uint32(0) // fast path: free -> held
		if !atomic.CompareAndSwapUint32(m, 0, 1) {
			v = atomic.SwapUint32(m, 2) // mark contended
		}
		for v != 0 {
			if !c.Running() {
				return false
			}
			if err := futexWaitFor(m, 2, waitSlice); err == nil && c.Running() {
				c.WakeLatency(since(atomic.LoadInt64(&g.WakeTs[0])))
			}
			v = atomic.SwapUint32(m, 2)
		}
		return true
	}
	unlock := func() {
		if atomic.AddUint32(m, ^uint32(0)) != 0 { // was 2: there are waiters
			atomic.StoreUint32(m, 0)
			atomic.StoreInt64(&g.WakeTs[0], monoNow())
			futexWakeN(m, 1)
		}
	}
	return func(c *Control) error {
		for c.Running() {
			if !lock(c) {
				return nil
			}
			g.Counter++
			w.spin(smallSpin)
			unlock()
			w.spin(4 * smallSpin)
			c.Progress(1)
		}
		return nil
	}, nil
}
