package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	kernels := tempCache(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	older := makeEntry(t, kernels, "aaaa111111111111", t0)
	newest := makeEntry(t, kernels, "aaaa222222222222", t0.Add(time.Hour))
	makeEntry(t, kernels, "bbbb333333333333", t0.Add(-time.Hour))

	files := t.TempDir()
	// A loose bzImage with vmlinux and .config beside it.
	loose := filepath.Join(files, "loose")
	writeFile(t, filepath.Join(loose, "bzImage"), fakeBzImage("6.14.0-rc1"))
	writeFile(t, filepath.Join(loose, "vmlinux"), fakeELF)
	writeFile(t, filepath.Join(loose, ".config"), []byte("CONFIG_X=y\n"))
	// A lone ELF vmlinux.
	elf := filepath.Join(files, "elf", "vmlinux")
	writeFile(t, elf, fakeELF)
	// A kernel build directory.
	bdir := filepath.Join(files, "build")
	writeFile(t, filepath.Join(bdir, "arch/x86/boot/bzImage"), fakeBzImage("6.12.57"))
	writeFile(t, filepath.Join(bdir, "vmlinux"), fakeELF)
	writeFile(t, filepath.Join(bdir, ".config"), []byte("CONFIG_X=y\n"))
	writeFile(t, filepath.Join(bdir, "include/config/kernel.release"), []byte("6.12.57-ktstr\n"))
	// Not kernels.
	junk := filepath.Join(files, "junk")
	writeFile(t, junk, []byte("hello"))
	empty := filepath.Join(files, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		env     string
		want    Image // only the non-zero fields are compared
		wantErr string
	}{
		{name: "newest cached", env: "", want: Image{Key: "aaaa222222222222", Dir: newest, Release: "6.12.57"}},
		{name: "full key", env: "aaaa111111111111", want: Image{Key: "aaaa111111111111", Dir: older}},
		{name: "unique prefix", env: "bbbb", want: Image{Key: "bbbb333333333333"}},
		{name: "ambiguous prefix", env: "aaaa", wantErr: "ambiguous cache key prefix"},
		{name: "unknown key", env: "cccc", wantErr: `no cached kernel has a key starting with "cccc"`},
		{name: "missing path", env: "/no/such/bzImage", wantErr: "no such file or directory"},
		{name: "cache entry dir", env: older, want: Image{Key: "aaaa111111111111", Dir: older,
			BzImage: filepath.Join(older, "bzImage"), Vmlinux: filepath.Join(older, "vmlinux"), Config: filepath.Join(older, "config")}},
		{name: "cache entry bzImage", env: filepath.Join(older, "bzImage"), want: Image{Key: "aaaa111111111111"}},
		{name: "loose bzImage", env: filepath.Join(loose, "bzImage"), want: Image{Dir: loose,
			BzImage: filepath.Join(loose, "bzImage"), Vmlinux: filepath.Join(loose, "vmlinux"),
			Config: filepath.Join(loose, ".config"), Release: "6.14.0-rc1"}},
		{name: "lone vmlinux", env: elf, want: Image{BzImage: elf, Vmlinux: elf}},
		{name: "build dir", env: bdir, want: Image{Dir: bdir, BzImage: filepath.Join(bdir, "arch/x86/boot/bzImage"),
			Vmlinux: filepath.Join(bdir, "vmlinux"), Config: filepath.Join(bdir, ".config"), Release: "6.12.57-ktstr"}},
		{name: "build dir bzImage", env: filepath.Join(bdir, "arch/x86/boot/bzImage"), want: Image{Dir: bdir, Release: "6.12.57-ktstr"}},
		{name: "not a kernel", env: junk, wantErr: "is not a kernel image"},
		{name: "empty dir", env: empty, wantErr: "holds neither bzImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KTSTR_KERNEL", tt.env)
			got, err := Resolve()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "KTSTR_KERNEL="+tt.env) {
					t.Errorf("error %q does not name KTSTR_KERNEL=%s", err, tt.env)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkImageFields(t, got, tt.want)
		})
	}
}

// checkImageFields compares the fields set in want.
func checkImageFields(t *testing.T, got, want Image) {
	t.Helper()
	for _, f := range []struct{ name, got, want string }{
		{"Key", got.Key, want.Key}, {"Dir", got.Dir, want.Dir}, {"BzImage", got.BzImage, want.BzImage},
		{"Vmlinux", got.Vmlinux, want.Vmlinux}, {"Config", got.Config, want.Config}, {"Release", got.Release, want.Release},
	} {
		if f.want != "" && f.got != f.want {
			t.Errorf("%s = %q, want %q (image %+v)", f.name, f.got, f.want, got)
		}
	}
	if got.BzImage == "" || got.Built.IsZero() {
		t.Errorf("image lacks BzImage or Built: %+v", got)
	}
}

func TestResolveNoKernel(t *testing.T) {
	kernels := tempCache(t)
	for _, setup := range []func(){
		func() {}, // no cache at all
		func() { writeFile(t, filepath.Join(kernels, "1234", entryMeta), []byte("{}")) }, // entry without bzImage
	} {
		setup()
		_, err := Resolve()
		if !errors.Is(err, ErrNoKernel) {
			t.Fatalf("Resolve() error = %v, want ErrNoKernel", err)
		}
		for _, s := range []string{"go run github.com/ktstr-go/ktstr/cmd/ktstr kernel build", "ktstr kernel build", "KTSTR_KERNEL", kernels} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
	}
}

// TestResolveCurrentRecipe checks that without KTSTR_KERNEL the newest
// entry of the current recipe wins over newer stale ones, that corrupt ones
// are passed over and said so, and that KTSTR_KERNEL still reaches a stale
// entry but not a corrupt one.
func TestResolveCurrentRecipe(t *testing.T) {
	kernels := tempCache(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	current := makeEntry(t, kernels, "c000000000000001", t0)
	makeLegacyEntry(t, kernels, "0000000000000001", t0.Add(time.Hour))
	otherFrag := currentMeta("f000000000000001", t0.Add(2*time.Hour))
	otherFrag.FragmentSHA256 = "00"
	makeEntryMeta(t, kernels, otherFrag)
	broken := makeEntry(t, kernels, "c000000000000002", t0.Add(3*time.Hour))
	if err := os.Truncate(filepath.Join(broken, entryBzImage), 100); err != nil {
		t.Fatal(err)
	}

	img, err := Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if img.Dir != current || img.Stale != "" || img.Corrupt != "" || !img.WatchdogOverride {
		t.Errorf("Resolve() = %+v, want the current entry %s", img, current)
	}
	if len(img.Skipped) != 1 || !strings.HasPrefix(img.Skipped[0], "c000000000000002: ") || !strings.Contains(img.Skipped[0], "truncated") {
		t.Errorf("Skipped = %q, want the truncated newer entry", img.Skipped)
	}

	// Named explicitly, a stale entry is used and says it is stale.
	t.Setenv("KTSTR_KERNEL", "0000000000000001")
	img, err = Resolve()
	if err != nil || img.Key != "0000000000000001" || !strings.Contains(img.Stale, "older recipe") {
		t.Errorf("KTSTR_KERNEL=stale key: %+v, %v", img, err)
	}
	t.Setenv("KTSTR_KERNEL", filepath.Join(kernels, "f000000000000001"))
	if img, err = Resolve(); err != nil || !strings.Contains(img.Stale, "other fragment") {
		t.Errorf("KTSTR_KERNEL=stale dir: %+v, %v", img, err)
	}
	// A corrupt one is not, whichever way it is named.
	for _, spec := range []string{"c000000000000002", broken, filepath.Join(broken, entryBzImage)} {
		t.Setenv("KTSTR_KERNEL", spec)
		_, err = Resolve()
		if !errors.Is(err, ErrCorruptKernel) || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "ktstr kernel build --force") {
			t.Errorf("KTSTR_KERNEL=%s (corrupt): error %v", spec, err)
		}
	}
}

func TestResolveOnlyStale(t *testing.T) {
	kernels := tempCache(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	makeLegacyEntry(t, kernels, "0000000000000001", t0)
	otherPatches := currentMeta("e000000000000001", t0.Add(time.Hour))
	otherPatches.RecipePatches = "00"
	makeEntryMeta(t, kernels, otherPatches)

	_, err := Resolve()
	if !errors.Is(err, ErrNoKernel) || !errors.Is(err, ErrStaleKernel) || errors.Is(err, ErrCorruptKernel) {
		t.Fatalf("Resolve() error = %v, want ErrNoKernel and ErrStaleKernel", err)
	}
	for _, s := range []string{
		"stale: 0000000000000001 (6.12.57", "older recipe (ktstr-kernel-recipe-1",
		"stale: e000000000000001 (6.12.57", "other patches",
		"go run github.com/ktstr-go/ktstr/cmd/ktstr kernel build", "ktstr kernel build", kernels, "KTSTR_KERNEL",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}

	// Add a current entry that is corrupt: still nothing to use, and now
	// the corrupt one is named too.
	broken := makeEntry(t, kernels, "c000000000000001", t0.Add(2*time.Hour))
	os.Remove(filepath.Join(broken, entryVmlinux))
	_, err = Resolve()
	if !errors.Is(err, ErrNoKernel) || !errors.Is(err, ErrStaleKernel) || !errors.Is(err, ErrCorruptKernel) ||
		!strings.Contains(err.Error(), "corrupt: c000000000000001") || !strings.Contains(err.Error(), "vmlinux is missing") {
		t.Errorf("Resolve() error = %v, want stale and corrupt entries named", err)
	}
}

func TestResolveAll(t *testing.T) {
	dir := t.TempDir()
	var specs []string
	for i, rel := range []string{"6.12.1", "6.13.0"} {
		p := filepath.Join(dir, fmt.Sprintf("bz%d", i))
		if err := os.WriteFile(p, fakeBzImage(rel), 0o644); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, p)
	}
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	t.Setenv("KTSTR_KERNEL", specs[0]+", "+specs[1])
	imgs, err := ResolveAll()
	if err != nil || len(imgs) != 2 || imgs[0].Release != "6.12.1" || imgs[1].Release != "6.13.0" {
		t.Fatalf("ResolveAll = %+v, %v", imgs, err)
	}
	if img, err := Resolve(); err != nil || img.BzImage != specs[0] {
		t.Errorf("Resolve with a list = %+v, %v; want the first", img, err)
	}
	if imgs[0].Label() != "6.12.1" {
		t.Errorf("Label = %q", imgs[0].Label())
	}
	for _, bad := range []string{specs[0] + ",", specs[0] + "," + specs[0], specs[0] + ",/nonexistent"} {
		t.Setenv("KTSTR_KERNEL", bad)
		if _, err := ResolveAll(); err == nil {
			t.Errorf("KTSTR_KERNEL=%s: want an error", bad)
		}
	}
}
