package initramfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// cacheBuilder returns a builder with a file large enough for writers to
// overlap.
func cacheBuilder() *Builder {
	b := New()
	b.AddBytes("/init", bytes.Repeat([]byte("ktstr"), 1<<20), 0o755)
	b.AddSymlink("/sbin/init", "/init")
	return b
}

func TestCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache") // created by Cached
	b := cacheBuilder()
	p, err := b.Cached(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := mustHash(t, b)
	if want := filepath.Join(dir, sum+".cpio"); p != want {
		t.Errorf("Cached = %s, want %s", p, want)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, archive(t, b)) {
		t.Error("cached archive differs from WriteTo's")
	}

	// A second builder with the same content reuses the file (same inode,
	// not rewritten) and marks it used (mtime now, for pruning).
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := cacheBuilder().Cached(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p2 != p {
		t.Errorf("second Cached = %s, want %s", p2, p)
	}
	if fi, err := os.Stat(p); err != nil || !os.SameFile(before, fi) || !fi.ModTime().After(old) {
		t.Errorf("cached archive rewritten or not marked used: %v, %v", fi.ModTime(), err)
	}

	// Other content, other file.
	b.AddBytes("/etc/motd", []byte("hi"), 0o644)
	p3, err := b.Cached(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p {
		t.Error("different content, same cache path")
	}
	assertFiles(t, dir, 2)
}

func TestCachedDefaultDir(t *testing.T) {
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	p, err := cacheBuilder().Cached("")
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Dir(p); got != filepath.Join(root, "initramfs") {
		t.Errorf("Cached(\"\") wrote in %s, want %s/initramfs", got, root)
	}
}

func TestCachedConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = cacheBuilder().Cached(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Cached %d: %v", i, errs[i])
		}
		if paths[i] != paths[0] {
			t.Errorf("Cached %d = %s, Cached 0 = %s", i, paths[i], paths[0])
		}
	}
	f, err := os.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := List(f); err != nil {
		t.Errorf("cached archive: %v", err)
	}
	assertFiles(t, dir, 1)
}

func TestCachedError(t *testing.T) {
	p := hostFile(t, "contents", 0o644)
	b := New()
	if err := b.AddFile("/x", p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("CONTENTS"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := b.Cached(dir); err == nil {
		t.Fatal("Cached succeeded although a host file changed")
	}
	assertFiles(t, dir, 0) // no temporary file, no archive left behind
}

// assertFiles checks that dir holds n archives and nothing else.
func assertFiles(t *testing.T, dir string, n int) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
		if filepath.Ext(de.Name()) != ".cpio" {
			t.Errorf("unexpected file %s in the cache", de.Name())
		}
	}
	if len(des) != n {
		t.Errorf("cache holds %v, want %d archives", names, n)
	}
	if t.Failed() {
		t.Log(fmt.Sprint(names))
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	files := map[string]time.Duration{ // name -> age
		"old.cpio": 100 * time.Hour, "recent.cpio": time.Hour,
		".x.cpio.1.tmp": 2 * time.Hour, ".y.cpio.2.tmp": time.Minute, "other.txt": 1000 * time.Hour,
	}
	for name, age := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	prune(dir, now)
	for name, keep := range map[string]bool{"old.cpio": false, "recent.cpio": true, ".x.cpio.1.tmp": false, ".y.cpio.2.tmp": true, "other.txt": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if kept := err == nil; kept != keep {
			t.Errorf("%s: kept=%v, want %v", name, kept, keep)
		}
	}
}
