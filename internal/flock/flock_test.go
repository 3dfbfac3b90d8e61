package flock

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	release, err := Lock(t.Context(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := TryLock(p); ok || err != nil {
		t.Fatalf("TryLock on a held lock: ok %v, err %v", ok, err)
	}
	ctx, cancel := context.WithTimeoutCause(t.Context(), 150*time.Millisecond, errors.New("gave up"))
	defer cancel()
	waited := 0
	if _, err := Lock(ctx, p, func() { waited++ }); err == nil || waited != 1 || !errors.Is(err, context.Cause(ctx)) {
		t.Fatalf("Lock on a held lock: err %v, onWait called %d times", err, waited)
	}
	release()
	r2, ok, err := TryLock(p)
	if !ok || err != nil {
		t.Fatalf("TryLock after release: %v, %v", ok, err)
	}
	r2()
	if _, err := Lock(t.Context(), filepath.Join(t.TempDir(), "no", "such", "dir"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lock in a missing directory = %v", err)
	}
}

func TestLockAny(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "0"), filepath.Join(dir, "1")}
	r0, i0, err := LockAny(t.Context(), paths, nil)
	if err != nil || i0 != 0 {
		t.Fatal(i0, err)
	}
	r1, i1, err := LockAny(t.Context(), paths, nil)
	if err != nil || i1 != 1 {
		t.Fatal(i1, err)
	}
	done := make(chan int)
	go func() {
		r, i, _ := LockAny(context.Background(), paths, nil)
		r()
		done <- i
	}()
	time.Sleep(100 * time.Millisecond)
	r1()
	if i := <-done; i != 1 {
		t.Errorf("waiter got lock %d, want the freed 1", i)
	}
	r0()
	if _, _, err := LockAny(t.Context(), nil, nil); err == nil {
		t.Error("no paths: want an error")
	}
}

// LockAll takes all or none, waits while any is held (exclusively or
// shared), and never holds a part while it waits.
func TestLockAll(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "cpu-0"), filepath.Join(dir, "cpu-1")}
	shared, ok, err := TryLockShared(paths[1])
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if again, ok, _ := TryLockShared(paths[1]); !ok {
		t.Fatal("a second shared lock was refused")
	} else {
		again()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	waited := 0
	if _, err := LockAll(ctx, paths, func() { waited++ }); err == nil || waited != 1 {
		t.Fatalf("LockAll with one shared-held: %v, onWait %d", err, waited)
	}
	// It held nothing while it waited: cpu-0 is free.
	r, ok, _ := TryLock(paths[0])
	if !ok {
		t.Fatal("LockAll kept a lock while it waited")
	}
	r()
	go func() { time.Sleep(100 * time.Millisecond); shared() }()
	release, err := LockAll(t.Context(), paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := TryLockShared(paths[0]); ok {
		t.Error("a shared lock on an exclusively held path was granted")
	}
	release()
	if r, ok, _ := TryLockShared(paths[0]); !ok {
		t.Error("release left a lock")
	} else {
		r()
	}
}

// LockShared takes every path not held exclusively, and waits while all are.
func TestLockShared(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "cpu-0"), filepath.Join(dir, "cpu-1")}
	ex, ok, err := TryLock(paths[0])
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	locked, release, err := LockShared(t.Context(), paths, nil)
	if err != nil || len(locked) != 1 || locked[0] != 1 {
		t.Fatalf("LockShared = %v, %v; want only path 1", locked, err)
	}
	release()
	all, _ := LockAll(t.Context(), paths[1:], nil)
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	waited := 0
	if _, _, err := LockShared(ctx, paths, func() { waited++ }); err == nil || waited != 1 {
		t.Errorf("LockShared with every path held: %v, onWait %d", err, waited)
	}
	all()
	ex()
}
