package schedbuild

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/kernel"
)

// TestBuildReal really builds the kernel tree's schedulers against the
// current kernel (kernel.Resolve, so a kernel must be built first), into a
// temporary cache so that the real one is left alone. It takes about 10 s on
// 2 cores. Enable it with KTSTR_SCHED_BUILD_TEST=1.
func TestBuildReal(t *testing.T) {
	if os.Getenv("KTSTR_SCHED_BUILD_TEST") != "1" {
		t.Skip("set KTSTR_SCHED_BUILD_TEST=1 to build the sched_ext schedulers for real")
	}
	img, err := kernel.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	src, err := img.SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	tc := defaultToolchain()
	tc.sourceDir = func(kernel.Image) (string, error) { return src, nil }
	var progress bytes.Buffer
	start := time.Now()
	built, err := tc.build(context.Background(), BuildOptions{Kernel: &img, Progress: &progress, SkipFixture: true})
	t.Logf("build took %s:\n%s", time.Since(start).Round(100*time.Millisecond), progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(builtNames(built), kernelSchedulers) {
		t.Fatalf("built %v", builtNames(built))
	}
	for _, b := range built {
		f, err := elf.Open(b.Path)
		if err != nil {
			t.Errorf("%s: %v", b.Name, err)
			continue
		}
		libs, _ := f.ImportedLibraries()
		f.Close()
		for _, want := range []string{"libelf.so.1", "libz.so.1", "libc.so.6"} {
			if !slices.Contains(libs, want) {
				t.Errorf("%s links %v, not %s", b.Name, libs, want)
			}
		}
		if out, err := exec.Command("ldd", b.Path).CombinedOutput(); err != nil || strings.Contains(string(out), "not found") {
			t.Errorf("ldd %s: %v\n%s", b.Path, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "schedulers", EntryKey(img), entryMetaName)); err != nil {
		t.Error(err)
	}
	// The second build is a cache hit.
	start = time.Now()
	again, err := tc.build(context.Background(), BuildOptions{Kernel: &img, SkipFixture: true})
	if err != nil || !slices.Equal(again, built) {
		t.Fatalf("cached build: %v, %v", again, err)
	}
	t.Logf("cached build took %s", time.Since(start).Round(time.Millisecond))
}
