package hostbuild

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestCopyFile(t *testing.T) {
	umask(t, 0o022)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o755} {
		dst := filepath.Join(dir, "dst-"+mode.String())
		if err := CopyFile(dst, src, mode); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(dst)
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("copy with mode %v: %v, %v", mode, st.Mode(), err)
		}
		if b, _ := os.ReadFile(dst); string(b) != "#!/bin/sh\n" {
			t.Errorf("copy holds %q", b)
		}
		// dst must be new.
		if err := CopyFile(dst, src, mode); !errors.Is(err, fs.ErrExist) {
			t.Errorf("copy onto an existing file = %v, want ErrExist", err)
		}
	}
	if err := CopyFile(filepath.Join(dir, "x"), filepath.Join(dir, "missing"), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("copy of a missing file = %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	umask(t, 0o022)
	dir := t.TempDir()
	p := filepath.Join(dir, "meta.json")
	for _, data := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != data {
			t.Errorf("file holds %q, want %q", b, data)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "no", "x"), nil, 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-25 * time.Hour)
	for name, stale := range map[string]bool{
		".tmp-abc-1": true, ".old-abc-2": false, "abc": true, ".lock": true, ".tmp-new": false,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if stale {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	RemoveStale(dir, []string{".tmp-", ".old-"}, 24*time.Hour)
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	// Only the old .tmp- entry goes: .old-abc-2 is recent, abc and .lock
	// have other names.
	want := []string{".lock", ".old-abc-2", ".tmp-new", "abc"}
	if len(left) != len(want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	for i := range want {
		if left[i] != want[i] {
			t.Fatalf("left %v, want %v", left, want)
		}
	}
	RemoveStale(filepath.Join(dir, "missing"), []string{".tmp-"}, 0) // no panic
}

// umask sets the process umask to mask for the rest of the test.
func umask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}
