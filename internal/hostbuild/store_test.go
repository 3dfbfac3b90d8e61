package hostbuild

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreDir(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "cache")
	fill := func(content string) func(string) error {
		return func(tmp string) error {
			if !strings.HasPrefix(filepath.Base(tmp), ".tmp-k1-") || filepath.Dir(tmp) != parent {
				t.Errorf("fill got %s, want a .tmp-k1-* directory in %s", tmp, parent)
			}
			if err := os.MkdirAll(filepath.Join(tmp, "sub"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(tmp, "sub", "file"), []byte(content), 0o644)
		}
	}
	read := func() string {
		b, _ := os.ReadFile(filepath.Join(parent, "k1", "sub", "file"))
		return string(b)
	}
	names := func() []string {
		ents, _ := os.ReadDir(parent)
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	// Created, with the parent.
	final, err := StoreDir(parent, "k1", fill("one"))
	if err != nil || final != filepath.Join(parent, "k1") || read() != "one" {
		t.Fatalf("first store: %s, %v, content %q", final, err, read())
	}
	if st, _ := os.Stat(final); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", st.Mode())
	}
	// Replaced.
	if _, err := StoreDir(parent, "k1", fill("two")); err != nil || read() != "two" {
		t.Fatalf("second store: %v, content %q", err, read())
	}
	if n := names(); len(n) != 1 || n[0] != "k1" {
		t.Errorf("parent holds %v after a replacement, want only k1", n)
	}
	// A fill that fails, after writing part of the entry, leaves nothing
	// and the old entry intact.
	boom := errors.New("boom")
	_, err = StoreDir(parent, "k1", func(tmp string) error {
		if err := fill("three")(tmp); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || read() != "two" {
		t.Errorf("failed store: %v, content %q", err, read())
	}
	if n := names(); len(n) != 1 || n[0] != "k1" {
		t.Errorf("parent holds %v after a failed store, want only k1", n)
	}
	// A failed first store leaves no entry.
	if _, err := StoreDir(parent, "k2", func(string) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "k2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed first store left k2: %v", err)
	}
	// Leftovers of interrupted stores go once old.
	old := time.Now().Add(-StoreStaleAfter - time.Hour)
	for _, n := range []string{".tmp-k1-123", ".old-k1-456", ".tmp-k9-new"} {
		if err := os.Mkdir(filepath.Join(parent, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if n != ".tmp-k9-new" {
			os.Chtimes(filepath.Join(parent, n), old, old)
		}
	}
	if _, err := StoreDir(parent, "k1", fill("four")); err != nil || read() != "four" {
		t.Fatalf("store: %v", err)
	}
	if n := strings.Join(names(), " "); n != ".tmp-k9-new k1" {
		t.Errorf("parent holds %s, want the recent leftover and k1", n)
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		if _, err := StoreDir(parent, bad, fill("x")); err == nil {
			t.Errorf("StoreDir(%q) succeeded", bad)
		}
	}
}

// TestReplaceDirFallback checks the two-rename replacement used where
// renameat2(RENAME_EXCHANGE) is not supported.
func TestReplaceDirFallback(t *testing.T) {
	parent := t.TempDir()
	final := filepath.Join(parent, "k")
	tmp := filepath.Join(parent, ".tmp-k-1")
	for _, d := range []string{final, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte(filepath.Base(d)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A missing tmp fails, and the old entry is put back.
	if err := replaceDirRenames(parent, filepath.Join(parent, "missing"), final, "k"); err == nil {
		t.Fatal("replacing with a missing directory succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(final, "f")); string(b) != "k" {
		t.Fatalf("old entry not restored: %q", b)
	}
	if err := replaceDirRenames(parent, tmp, final, "k"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(final, "f")); string(b) != ".tmp-k-1" {
		t.Errorf("final holds %q", b)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("parent holds %v", ents)
	}
}
