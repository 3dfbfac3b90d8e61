package kernel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildCached builds (or finds cached) a kernel from Debian's
// linux-source-6.12 in the real cache. It takes about 10 minutes on 2 cores
// the first time, so it only runs with KTSTR_KERNEL_BUILD_TEST=1.
func TestBuildCached(t *testing.T) {
	if os.Getenv("KTSTR_KERNEL_BUILD_TEST") != "1" {
		t.Skip("set KTSTR_KERNEL_BUILD_TEST=1 to build a kernel")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	img, err := Build(ctx, BuildOptions{Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s (%s) in %s", img.Key, img.Release, img.Dir)
	if got, err := loadEntry(img.Dir); err != nil || !got.Current() {
		t.Fatalf("%s is not a current, intact cache entry: %v %+v", img.Dir, err, got)
	}
	if !img.WatchdogOverride {
		t.Errorf("kernel %s lacks the watchdog override", img.Key)
	}
	if err := checkImage(img.BzImage); err != nil || !isELF(img.Vmlinux) {
		t.Errorf("bzImage %s / vmlinux %s: %v", img.BzImage, img.Vmlinux, err)
	}
	if !strings.HasPrefix(img.Release, "6.12") {
		t.Errorf("release %q, want 6.12.*", img.Release)
	}
	final, err := os.Open(img.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer final.Close()
	if mm, err := CheckConfig(strings.NewReader(string(Fragment())), final); err != nil || len(mm) > 0 {
		t.Errorf("cached config: %v %v", mm, err)
	}
	// A second Build is a cache hit.
	start := time.Now()
	again, err := Build(ctx, BuildOptions{})
	if err != nil || again.Key != img.Key {
		t.Fatalf("second Build = %s, %v; want cached %s", again.Key, err, img.Key)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("cached Build took %s", d)
	}
	if r, err := Resolve(); err == nil && os.Getenv("KTSTR_KERNEL") == "" && r.Key != img.Key {
		t.Errorf("Resolve() = %s, want the newest build %s", r.Key, img.Key)
	}
}

// TestBuildFailureShowsLog runs Build on a fake tree whose make fails and
// checks the error carries the log's tail and path, and that nothing got
// cached.
func TestBuildFailureShowsLog(t *testing.T) {
	if err := checkTools(false); err != nil {
		t.Skip(err)
	}
	kernels := tempCache(t)
	tree := fakeTree(t)
	writeFile(t, filepath.Join(tree, "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 12\n"+
		"%:\n\t@echo 'kbuild says: something broke'; exit 2\n"))
	var progress strings.Builder
	_, err := Build(context.Background(), BuildOptions{Source: tree, Progress: &progress})
	if err == nil {
		t.Fatal("Build succeeded on a broken tree")
	}
	t.Logf("error:\n%v", err)
	for _, s := range []string{"kernel build: configure:", "kbuild says: something broke", "ktstr-build.log", "last 40 lines"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	if !strings.Contains(progress.String(), "ktstr: kernel: configuring") {
		t.Errorf("no phase line in progress output:\n%s", progress.String())
	}
	// The tree lacks the watchdog override: one line says so.
	if n := strings.Count(progress.String(), "the sched_ext watchdog override patch is not in "+tree); n != 1 {
		t.Errorf("%d lines about the missing watchdog override in progress output:\n%s", n, progress.String())
	}
	if imgs, _ := List(); len(imgs) != 0 || exists(kernels) {
		t.Errorf("a failed build left cache entries: %v", imgs)
	}
}

// TestCachedRebuildsCorrupt checks that Build's cache lookup uses an intact
// entry and rebuilds a corrupt one without --force.
func TestCachedRebuildsCorrupt(t *testing.T) {
	kernels := tempCache(t)
	key := "abcdabcdabcdabcd"
	var out strings.Builder
	rep := newReporter(&out)
	if _, ok := cached(kernels, key, false, rep); ok {
		t.Fatal("cache hit on an empty cache")
	}
	dir := makeEntry(t, kernels, key, time.Now())
	if img, ok := cached(kernels, key, false, rep); !ok || img.Dir != dir {
		t.Fatalf("no cache hit on an intact entry: %+v\n%s", img, out.String())
	}
	if _, ok := cached(kernels, key, true, rep); ok {
		t.Error("cache hit with force")
	}
	if err := os.Truncate(filepath.Join(dir, entryBzImage), 10); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, ok := cached(kernels, key, false, rep); ok {
		t.Fatal("cache hit on a corrupt entry")
	}
	if want := "ktstr: kernel: cached kernel " + key + " is corrupt, rebuilding it: " + filepath.Join(dir, entryBzImage) +
		" is 10 bytes, meta.json records 1024 (truncated)\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
