package kernel

import (
	"errors"
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
