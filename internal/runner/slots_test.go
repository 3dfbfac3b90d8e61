package runner

import (
	"context"
	"testing"
	"time"
)

func TestAcquireSlot(t *testing.T) {
	dir := t.TempDir()
	r1, err := acquireSlot(t.Context(), dir, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := acquireSlot(t.Context(), dir, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := acquireSlot(ctx, dir, 2, func() { waited = true }); err == nil || !waited {
		t.Fatalf("a third slot of two was granted (err %v, waited %v)", err, waited)
	}
	r1()
	r3, err := acquireSlot(t.Context(), dir, 2, nil)
	if err != nil {
		t.Fatalf("a freed slot was not reused: %v", err)
	}
	r2()
	r3()
}
