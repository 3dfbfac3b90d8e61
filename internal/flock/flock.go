// Package flock takes advisory file locks (flock(2)) shared by every
// process on the host: VM slots, build directories, cache entries. A lock
// dies with the process that holds it, so a killed run never leaves one
// behind. This is the only place ktstr waits for a lock.
package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Poll is how often a waiting Lock or LockAny tries again.
const Poll = 50 * time.Millisecond

// TryLock takes an exclusive lock on path (creating the file) if no one
// holds it. ok is false when another process (or another open of the file)
// holds it; err reports anything else.
func TryLock(path string) (release func(), ok bool, err error) {
	return tryLock(path, syscall.LOCK_EX)
}

// TryLockShared takes a shared lock on path if no one holds it exclusively.
func TryLockShared(path string) (release func(), ok bool, err error) {
	return tryLock(path, syscall.LOCK_SH)
}

func tryLock(path string, how int) (release func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if err == nil {
		return func() { f.Close() }, true, nil
	}
	f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("lock %s: %w", path, err)
}

// Lock takes an exclusive lock on path, waiting while another process holds
// it until ctx ends. onWait, when not nil, is called once when Lock starts
// waiting. The returned func releases the lock.
func Lock(ctx context.Context, path string, onWait func()) (release func(), err error) {
	release, _, err = LockAny(ctx, []string{path}, onWait)
	return release, err
}

// LockAny takes an exclusive lock on the first of paths that is free,
// waiting while all are held until ctx ends, and returns its index. onWait,
// when not nil, is called once when LockAny starts waiting. The error after
// ctx ended wraps context.Cause(ctx).
func LockAny(ctx context.Context, paths []string, onWait func()) (release func(), index int, err error) {
	if len(paths) == 0 {
		return nil, -1, errors.New("lock: no paths")
	}
	err = poll(ctx, onWait, describe(paths), func() (bool, error) {
		for i, p := range paths {
			r, ok, err := TryLock(p)
			if err != nil || ok {
				release, index = r, i
				return ok, err
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, -1, err
	}
	return release, index, nil
}

// LockAll takes an exclusive lock on every one of paths, or none: while
// any is held elsewhere it releases what it took and tries again, until
// ctx ends, so two callers that want overlapping sets never deadlock.
// onWait is called once when it starts waiting.
func LockAll(ctx context.Context, paths []string, onWait func()) (release func(), err error) {
	var h held
	err = poll(ctx, onWait, "all of "+describe(paths), func() (bool, error) {
		h = nil
		for _, p := range paths {
			r, ok, err := TryLock(p)
			if err != nil || !ok {
				h.release()
				return false, err
			}
			h = append(h, r)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return h.release, nil
}

// LockShared takes a shared lock on every one of paths no one holds
// exclusively, waiting while each is held so, until ctx ends, and returns
// the indexes of those it locked. onWait is called once when it starts
// waiting.
func LockShared(ctx context.Context, paths []string, onWait func()) (locked []int, release func(), err error) {
	var h held
	err = poll(ctx, onWait, "any of "+describe(paths), func() (bool, error) {
		h, locked = nil, locked[:0]
		for i, p := range paths {
			r, ok, err := TryLockShared(p)
			if err != nil {
				h.release()
				return false, err
			}
			if ok {
				h, locked = append(h, r), append(locked, i)
			}
		}
		return len(h) > 0, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return locked, h.release, nil
}

// poll calls try every Poll until it reports done or fails, calling onWait
// (when not nil) once before it first waits. After ctx ends it returns an
// error saying what it waited for, wrapping context.Cause(ctx).
func poll(ctx context.Context, onWait func(), what string, try func() (done bool, err error)) error {
	t := time.NewTicker(Poll)
	defer t.Stop()
	for waited := false; ; waited = true {
		done, err := try()
		if err != nil || done {
			return err
		}
		if !waited && onWait != nil {
			onWait()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock: waiting for %s: %w", what, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// held are the releases of the locks taken so far.
type held []func()

func (h held) release() {
	for _, r := range h {
		r()
	}
}

func describe(paths []string) string {
	if len(paths) == 1 {
		return paths[0]
	}
	return fmt.Sprintf("one of %d locks such as %s", len(paths), paths[0])
}
