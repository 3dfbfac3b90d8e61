package schedbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
	"github.com/ktstr-go/ktstr/kernel"
)

// fakeTree writes a kernel source tree with a top Makefile of version and
// a tools/sched_ext/Makefile.
func fakeKernelTree(t *testing.T, dir, version string) string {
	t.Helper()
	parts := strings.SplitN(version, ".", 3)
	mk := fmt.Sprintf("VERSION = %s\nPATCHLEVEL = %s\nSUBLEVEL = %s\nEXTRAVERSION =\n", parts[0], parts[1], parts[2])
	for p, data := range map[string]string{"Makefile": mk, "Kconfig": "", "tools/sched_ext/Makefile": "all:\n"} {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fake is a toolchain whose make writes shell scripts in place of
// schedulers.
type fakeToolchain struct {
	src        string
	makeCalls  int
	args, env  []string
	makeErr    error
	omit       string // scheduler the fake make leaves out
	inModule   bool
	goBuilds   int
	goBuildErr error
	fixture    string // content of the fake scx_fixture
}

func (f *fakeToolchain) toolchain() *toolchain {
	return &toolchain{
		resolveKernel: func() (kernel.Image, error) { return kernel.Image{}, errors.New("no kernel in this test") },
		sourceDir:     func(kernel.Image) (string, error) { return f.src, nil },
		ensureDeps:    func(context.Context, hostbuild.Reporter) error { return nil },
		make: func(ctx context.Context, args, env []string, log io.Writer) error {
			f.makeCalls++
			f.args, f.env = args, env
			fmt.Fprintf(log, "  CC libbpf\n  LINK bpftool\n")
			if f.makeErr != nil {
				fmt.Fprintf(log, "scx_qmap.bpf.c:12: error: boom\nmake: *** [Makefile:1] Error 1\n")
				return f.makeErr
			}
			var out string
			for _, a := range args {
				if v, ok := strings.CutPrefix(a, "O="); ok {
					out = v
				}
			}
			for _, name := range kernelSchedulers {
				if name == f.omit {
					continue
				}
				p := filepath.Join(out, "build", "bin", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(p, fmt.Appendf(nil, "#!/bin/sh\necho %s %d\n", name, f.makeCalls), 0o755); err != nil {
					return err
				}
			}
			return nil
		},
		module: func(context.Context) (bool, string) { return f.inModule, "not inside the module (test)" },
		goBuild: func(ctx context.Context, out string, log io.Writer) error {
			f.goBuilds++
			if f.goBuildErr != nil {
				fmt.Fprintln(log, "cmd/scx_fixture/main.go:3:1: syntax error")
				return f.goBuildErr
			}
			return os.WriteFile(out, []byte(f.fixture), 0o755)
		},
	}
}

// setup points the cache at a temporary root and returns it, a fake tree
// and a kernel image.
func buildSetup(t *testing.T) (string, *fakeToolchain, kernel.Image) {
	t.Helper()
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	src := fakeKernelTree(t, filepath.Join(root, "src", "linux"), "6.12.117")
	vmlinux := filepath.Join(root, "kernels", "k1", "vmlinux")
	writeTestExec(t, vmlinux, 0o644)
	img := kernel.Image{Key: "k1", Dir: filepath.Dir(vmlinux), Vmlinux: vmlinux, Release: "6.12.117", Source: "test"}
	return root, &fakeToolchain{src: src, fixture: "fixture v1"}, img
}

func builtNames(bs []Built) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

// leftovers returns the temporary files and directories in dir.
func cacheLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || strings.Contains(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestBuildCachesAndReuses(t *testing.T) {
	root, f, img := buildSetup(t)
	var progress bytes.Buffer
	ctx := context.Background()
	built, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Jobs: 3, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "schedulers", "k1")
	if got := builtNames(built); !slices.Equal(got, kernelSchedulers) {
		t.Fatalf("built %v, want %v", got, kernelSchedulers)
	}
	for _, b := range built {
		if b.Path != filepath.Join(dir, b.Name) || !IsExecutable(b.Path) {
			t.Errorf("%s: path %s missing or not executable", b.Name, b.Path)
		}
	}
	// make's invocation.
	out := filepath.Join(root, "build", "sched_ext-k1")
	for _, want := range []string{"-C", filepath.Join(f.src, "tools/sched_ext"), "O=" + out, "CC=gcc", "CLANG=clang",
		"LLVM_STRIP=llvm-strip", "VMLINUX_BTF=" + img.Vmlinux, "-j3"} {
		if !slices.Contains(f.args, want) {
			t.Errorf("make args %q lack %q", f.args, want)
		}
	}
	if dirExists(llvmBin) && !slices.ContainsFunc(f.env, func(kv string) bool { return strings.HasPrefix(kv, "PATH="+llvmBin+":") }) {
		t.Errorf("make env has no PATH starting with %s", llvmBin)
	}
	m, err := readEntryMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.KernelKey != "k1" || m.Source != f.src || m.Vmlinux != img.Vmlinux || m.Built.IsZero() || !slices.Equal(m.Schedulers, kernelSchedulers) {
		t.Errorf("meta = %+v", m)
	}
	if l := cacheLeftovers(t, filepath.Join(root, "schedulers")); len(l) != 0 {
		t.Errorf("leftovers in the cache: %v", l)
	}
	if !strings.Contains(progress.String(), "building scx_simple scx_qmap scx_central scx_flatcg") ||
		!strings.Contains(progress.String(), "skipping scx_fixture: not inside the module") {
		t.Errorf("progress:\n%s", progress.String())
	}

	// A second build reuses the entry.
	progress.Reset()
	again, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Progress: &progress})
	if err != nil || f.makeCalls != 1 || !slices.Equal(builtNames(again), kernelSchedulers) {
		t.Fatalf("second build: %v, %d make calls, built %v", err, f.makeCalls, builtNames(again))
	}
	if !strings.Contains(progress.String(), "using cached schedulers "+dir) {
		t.Errorf("progress:\n%s", progress.String())
	}

	// Force rebuilds from a clean build directory and replaces the entry.
	stale := filepath.Join(out, "build", "obj", "stale.o")
	writeTestExec(t, stale, 0o644)
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Force: true}); err != nil || f.makeCalls != 2 {
		t.Fatalf("forced build: %v, %d make calls", err, f.makeCalls)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "scx_qmap")); !strings.Contains(string(data), "scx_qmap 2") {
		t.Errorf("forced build did not replace scx_qmap: %q", data)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("forced build kept the old build directory")
	}

	// Without Force an incomplete entry is built incrementally.
	writeTestExec(t, stale, 0o644)

	// An incomplete entry (a binary deleted) is rebuilt.
	if err := os.Remove(filepath.Join(dir, "scx_central")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img}); err != nil || f.makeCalls != 3 {
		t.Fatalf("build of incomplete entry: %v, %d make calls", err, f.makeCalls)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("incremental build emptied the build directory: %v", err)
	}

	// List sees it.
	entries, err := List()
	if err != nil || len(entries) != 1 || entries[0].Key != "k1" || len(entries[0].Schedulers) != 4 {
		t.Fatalf("List() = %+v, %v", entries, err)
	}
}

func TestBuildFailureKeepsCacheIntact(t *testing.T) {
	root, f, img := buildSetup(t)
	ctx := context.Background()
	cache := filepath.Join(root, "schedulers")

	// A failing make on an empty cache leaves no entry, and its error
	// carries make's last lines.
	f.makeErr = errors.New("exit status 2")
	_, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img})
	if err == nil || !strings.Contains(err.Error(), "sched build: make: exit status 2") ||
		!strings.Contains(err.Error(), "error: boom") || !strings.Contains(err.Error(), "ktstr-sched-build.log") {
		t.Fatalf("error = %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "k1")); err == nil {
		t.Fatal("failed build left an entry")
	}

	// A good build, then a forced one that fails: the good entry stays.
	f.makeErr = nil
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img}); err != nil {
		t.Fatal(err)
	}
	f.makeErr = errors.New("exit status 2")
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Force: true}); err == nil {
		t.Fatal("forced failing build succeeded")
	}
	if _, _, ok := completeEntry(filepath.Join(cache, "k1")); !ok {
		t.Fatal("failed forced build damaged the existing entry")
	}

	// make that succeeds without producing every binary is an error and
	// stores nothing.
	f.makeErr, f.omit = nil, "scx_flatcg"
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Force: true}); err == nil || !strings.Contains(err.Error(), "scx_flatcg is missing") {
		t.Fatalf("error = %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(cache, "k1", "scx_qmap")); !strings.Contains(string(data), "scx_qmap 2") {
		t.Errorf("entry changed by a failed build: %q", data)
	}
	if l := cacheLeftovers(t, cache); len(l) != 0 {
		t.Errorf("leftovers in the cache: %v", l)
	}
}

func TestBuildChecks(t *testing.T) {
	_, f, img := buildSetup(t)
	ctx := context.Background()
	noVmlinux := img
	noVmlinux.Vmlinux = ""
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &noVmlinux}); err == nil || !strings.Contains(err.Error(), "has no vmlinux") {
		t.Errorf("no vmlinux: error = %v", err)
	}
	other := img
	other.Release = "6.13.0"
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &other}); err == nil || !strings.Contains(err.Error(), "is Linux 6.12.117 but the kernel is 6.13.0") {
		t.Errorf("version mismatch: error = %v", err)
	}
	// No opts.Kernel: the resolver's error is wrapped.
	if _, err := f.toolchain().build(ctx, BuildOptions{}); err == nil || !strings.Contains(err.Error(), "sched build: kernel: no kernel in this test") {
		t.Errorf("resolve: error = %v", err)
	}
	// A tree without tools/sched_ext.
	old := fakeKernelTree(t, filepath.Join(t.TempDir(), "linux"), "6.12.117")
	if err := os.RemoveAll(filepath.Join(old, "tools")); err != nil {
		t.Fatal(err)
	}
	f.src = old
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img}); err == nil || !strings.Contains(err.Error(), "has no tools/sched_ext") {
		t.Errorf("no tools/sched_ext: error = %v", err)
	}
	if f.makeCalls != 0 {
		t.Errorf("make ran %d times", f.makeCalls)
	}
}

func TestBuildFixture(t *testing.T) {
	root, f, img := buildSetup(t)
	ctx := context.Background()
	dir := filepath.Join(root, "schedulers", "k1")
	f.inModule = true
	var progress bytes.Buffer
	built, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(kernelSchedulers), fixtureName)
	if !slices.Equal(builtNames(built), want) {
		t.Fatalf("built %v, want %v", builtNames(built), want)
	}
	m, _ := readEntryMeta(dir)
	if !slices.Equal(m.Schedulers, want) || m.FixtureBuilt.IsZero() {
		t.Errorf("meta after fixture: %+v", m)
	}
	if !strings.Contains(progress.String(), "scx_fixture updated") {
		t.Errorf("progress:\n%s", progress.String())
	}
	first := m.FixtureBuilt

	// Same content again: built (go build is the judge of staleness) but
	// the entry's file is left alone.
	progress.Reset()
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if f.goBuilds != 2 || f.makeCalls != 1 || !strings.Contains(progress.String(), "scx_fixture unchanged") {
		t.Errorf("%d go builds, %d makes; progress:\n%s", f.goBuilds, f.makeCalls, progress.String())
	}
	if m, _ := readEntryMeta(dir); !m.FixtureBuilt.Equal(first) || len(m.Schedulers) != 5 {
		t.Errorf("meta rewritten for an unchanged fixture: %+v", m)
	}

	// New content replaces it.
	f.fixture = "fixture v2"
	if _, err := f.toolchain().build(ctx, BuildOptions{Kernel: &img}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, fixtureName)); string(data) != "fixture v2" {
		t.Errorf("scx_fixture = %q", data)
	}

	// A failing fixture build is an error that still returns the kernel
	// schedulers; the entry keeps the previous fixture.
	f.goBuildErr = errors.New("exit status 1")
	built, err = f.toolchain().build(ctx, BuildOptions{Kernel: &img})
	if err == nil || !strings.Contains(err.Error(), "sched build: scx_fixture: go build: exit status 1") || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("error = %v", err)
	}
	if !slices.Equal(builtNames(built), kernelSchedulers) {
		t.Errorf("built %v with the fixture error", builtNames(built))
	}
	if data, _ := os.ReadFile(filepath.Join(dir, fixtureName)); string(data) != "fixture v2" {
		t.Errorf("scx_fixture after failed build = %q", data)
	}
	if l := cacheLeftovers(t, dir); len(l) != 0 {
		t.Errorf("leftovers in the entry: %v", l)
	}

	// SkipFixture skips it.
	n := f.goBuilds
	built, err = f.toolchain().build(ctx, BuildOptions{Kernel: &img, SkipFixture: true})
	if err != nil || f.goBuilds != n || len(built) != 4 {
		t.Errorf("SkipFixture: %v, go builds %d -> %d, built %v", err, n, f.goBuilds, builtNames(built))
	}
}

// TestFixtureStandIn runs the real module check and go build of
// scx_fixture in a stand-in module (the real cmd/scx_fixture may not build
// yet), with a fake make.
func TestFixtureStandIn(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	if testing.Short() {
		t.Skip("runs go build")
	}
	root, f, img := buildSetup(t)
	mod := filepath.Join(t.TempDir(), "mod")
	for p, data := range map[string]string{
		"go.mod":                  "module " + ModulePath + "\n\ngo 1.22\n",
		"cmd/scx_fixture/main.go": "package main\n\nfunc main() { println(\"stand-in\") }\n",
	} {
		p = filepath.Join(mod, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOFLAGS", "")
	t.Setenv("GOWORK", "off")
	t.Chdir(t.TempDir())
	if ok, why := inModule(context.Background()); ok || !strings.Contains(why, "not inside a Go module") {
		t.Errorf("outside a module: inModule = %v, %q", ok, why)
	}
	t.Chdir(filepath.Join(mod, "cmd"))
	if ok, why := inModule(context.Background()); !ok {
		t.Fatalf("inside the stand-in module: inModule = false, %q", why)
	}
	tc := f.toolchain()
	tc.module, tc.goBuild = inModule, goBuildFixture
	built, err := tc.build(context.Background(), BuildOptions{Kernel: &img})
	if err != nil {
		t.Fatal(err)
	}
	fx := filepath.Join(root, "schedulers", "k1", fixtureName)
	if len(built) != 5 || built[4] != (Built{Name: fixtureName, Path: fx}) {
		t.Fatalf("built %+v", built)
	}
	out, err := exec.Command(fx).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "stand-in") {
		t.Fatalf("running %s: %v: %s", fx, err, out)
	}
	// A static binary: CGO_ENABLED=0.
	if out, err := exec.Command("file", fx).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("scx_fixture is not static: %s", out)
	}
	// Broken fixture source: the error carries the compiler's message.
	if err := os.WriteFile(filepath.Join(mod, "cmd/scx_fixture/main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = tc.build(context.Background(), BuildOptions{Kernel: &img})
	if err == nil || !strings.Contains(err.Error(), "undefinedThing") {
		t.Fatalf("broken fixture: error = %v", err)
	}
}

func TestMissingPackages(t *testing.T) {
	have := map[string]bool{}
	p := probe{
		debian:   true,
		exists:   func(path string) bool { return have[path] },
		lookPath: func(name string) bool { return have[name] },
	}
	pkgs, _ := missingPackages(p)
	if !slices.Equal(pkgs, buildPackages) {
		t.Errorf("nothing installed: missing %v, want %v", pkgs, buildPackages)
	}
	for _, k := range []string{llvmBin + "/clang", llvmBin + "/llvm-strip", "/usr/include/libelf.h", "/usr/include/gelf.h",
		"/usr/include/zlib.h", "/usr/include/zstd.h", "pkg-config", "make", "gcc"} {
		have[k] = true
	}
	if pkgs, why := missingPackages(p); len(pkgs) != 0 {
		t.Errorf("all installed: missing %v (%v)", pkgs, why)
	}
	delete(have, "/usr/include/zstd.h")
	delete(have, llvmBin+"/clang")
	have["clang"] = true // a clang on PATH is not clang-19 on Debian
	if pkgs, _ := missingPackages(p); !slices.Equal(pkgs, []string{"clang-19", "libzstd-dev"}) {
		t.Errorf("missing %v, want clang-19 libzstd-dev", pkgs)
	}
	p.debian = false
	have["llvm-strip"] = true
	if pkgs, _ := missingPackages(p); !slices.Equal(pkgs, []string{"libzstd-dev"}) {
		t.Errorf("not Debian, clang on PATH: missing %v", pkgs)
	}
}

func TestEnsureDeps(t *testing.T) {
	ctx := context.Background()
	installed := map[string]bool{}
	var calls []string
	p := probe{
		debian: true, root: true,
		exists:   func(path string) bool { return installed[path] },
		lookPath: func(name string) bool { return true },
	}
	files := []string{llvmBin + "/clang", llvmBin + "/llvm-strip", "/usr/include/libelf.h", "/usr/include/gelf.h", "/usr/include/zlib.h", "/usr/include/zstd.h"}
	updated := false
	p.install = func(_ context.Context, update bool, pkgs []string) (string, error) {
		if update {
			calls = append(calls, "update")
			updated = true
			return "", nil
		}
		calls = append(calls, "install "+strings.Join(pkgs, " "))
		if !updated {
			return "E: Unable to locate package clang-19", errors.New("exit status 100")
		}
		for _, f := range files {
			installed[f] = true
		}
		return "", nil
	}
	var progress bytes.Buffer
	if err := ensureDeps(ctx, p, newReporter(&progress)); err != nil {
		t.Fatal(err)
	}
	want := []string{"install clang-19 llvm-19 libelf-dev zlib1g-dev libzstd-dev", "update", "install clang-19 llvm-19 libelf-dev zlib1g-dev libzstd-dev"}
	if !slices.Equal(calls, want) {
		t.Errorf("apt-get calls %q, want %q", calls, want)
	}
	// Nothing missing: no apt-get.
	calls = nil
	if err := ensureDeps(ctx, p, hostbuild.Reporter{}); err != nil || calls != nil {
		t.Errorf("all present: %v, calls %q", err, calls)
	}
	// Not root: an error naming the packages and the command.
	delete(installed, "/usr/include/zlib.h")
	p.root = false
	err := ensureDeps(ctx, p, hostbuild.Reporter{})
	if err == nil || !strings.Contains(err.Error(), "zlib1g-dev (/usr/include/zlib.h)") || !strings.Contains(err.Error(), "apt-get install zlib1g-dev") || calls != nil {
		t.Errorf("not root: %v, calls %q", err, calls)
	}
	// Install that does not help.
	p.root = true
	p.install = func(context.Context, bool, []string) (string, error) { return "", nil }
	if err := ensureDeps(ctx, p, hostbuild.Reporter{}); err == nil || !strings.Contains(err.Error(), "still missing zlib1g-dev") {
		t.Errorf("useless install: %v", err)
	}
}

func TestMakeEnv(t *testing.T) {
	env := makeEnv([]string{"HOME=/root", "PATH=/usr/bin:/bin", "O=/x", "ARCH=arm64", "LLVM=1", "MAKEFLAGS=-j8", "CC=cc"}, true)
	want := []string{"HOME=/root", "CC=cc", "PATH=" + llvmBin + ":/usr/bin:/bin"}
	if !slices.Equal(env, want) {
		t.Errorf("makeEnv = %q, want %q", env, want)
	}
	if env := makeEnv([]string{"PATH=/bin"}, false); !slices.Equal(env, []string{"PATH=/bin"}) {
		t.Errorf("without llvm: %q", env)
	}
}

func TestEntryKey(t *testing.T) {
	if k := EntryKey(kernel.Image{Key: "abc"}); k != "abc" {
		t.Errorf("EntryKey = %q", k)
	}
	dir := t.TempDir()
	v := writeTestExec(t, filepath.Join(dir, "vmlinux"), 0o644)
	a := EntryKey(kernel.Image{BzImage: filepath.Join(dir, "bzImage"), Vmlinux: v})
	if !strings.HasPrefix(a, "ext-") || len(a) != 20 || a != EntryKey(kernel.Image{Vmlinux: v}) {
		t.Errorf("EntryKey of a loose kernel = %q", a)
	}
	if err := os.WriteFile(v, []byte("changed vmlinux"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b := EntryKey(kernel.Image{Vmlinux: v}); b == a {
		t.Errorf("EntryKey unchanged after the vmlinux changed: %q", b)
	}
}

func TestListSkipsJunk(t *testing.T) {
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	if entries, err := List(); err != nil || entries != nil {
		t.Fatalf("missing cache: %v, %v", entries, err)
	}
	cache := filepath.Join(root, "schedulers")
	for _, d := range []string{".tmp-k-123", "nometa", "badmeta"} {
		if err := os.MkdirAll(filepath.Join(cache, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cache, "badmeta", entryMetaName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTestExec(t, filepath.Join(cache, "good", "scx_simple"), 0o755)
	if err := writeEntryMeta(filepath.Join(cache, "good"), entryMeta{Schedulers: []string{"scx_simple", "scx_gone"}}); err != nil {
		t.Fatal(err)
	}
	entries, err := List()
	if err != nil || len(entries) != 1 || entries[0].Key != "good" || !slices.Equal(builtNames(entries[0].Schedulers), []string{"scx_simple"}) {
		t.Fatalf("List() = %+v, %v", entries, err)
	}
}

// TestSourceDir checks kernel.Image.SourceDir, which Build relies on, for
// each kind of kernel.
func TestSourceDir(t *testing.T) {
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	deb := fakeKernelTree(t, filepath.Join(root, "src", "linux-source-6.12"), "6.12.117")
	debian := kernel.Image{Key: "k", Source: "Debian linux-source-6.12 6.12.117-1~deb12u1 (/usr/src/linux-source-6.12.tar.xz)"}
	if got, err := debian.SourceDir(); got != deb || err != nil {
		t.Errorf("Debian, no build dir: %q, %v; want %q", got, err, deb)
	}
	// The build directory's source link wins.
	elsewhere := fakeKernelTree(t, filepath.Join(root, "elsewhere"), "6.12.117")
	if err := os.MkdirAll(filepath.Join(root, "build", "linux-source-6.12"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(root, "build", "linux-source-6.12", "source")); err != nil {
		t.Fatal(err)
	}
	if got, err := debian.SourceDir(); got != elsewhere || err != nil {
		t.Errorf("Debian via build dir link: %q, %v; want %q", got, err, elsewhere)
	}
	tree := fakeKernelTree(t, filepath.Join(root, "my tree"), "6.13.0")
	if got, err := (kernel.Image{Source: "tree " + tree + " (6.13.0, git 0123456789ab)"}).SourceDir(); got != tree || err != nil {
		t.Errorf("tree: %q, %v; want %q", got, err, tree)
	}
	// A kernel build directory (KTSTR_KERNEL=dir) with its source link.
	bdir := filepath.Join(root, "kbuild")
	writeTestExec(t, filepath.Join(bdir, "arch/x86/boot/bzImage"), 0o644)
	if err := os.Symlink(tree, filepath.Join(bdir, "source")); err != nil {
		t.Fatal(err)
	}
	if got, err := (kernel.Image{Dir: bdir, Source: "build directory " + bdir}).SourceDir(); got != tree || err != nil {
		t.Errorf("build dir: %q, %v; want %q", got, err, tree)
	}
	for _, img := range []kernel.Image{{Source: "file /boot/vmlinuz"}, {Source: "tree /nonexistent (6.12.0)"}} {
		if got, err := img.SourceDir(); err == nil {
			t.Errorf("%q: SourceDir() = %q, want an error", img.Source, got)
		}
	}
}

// TestRunUnnamed checks that run's errors leave naming the command to the
// caller ("make: exit status 2", "make: interrupted: context canceled").
func TestRunUnnamed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	if err := run(ctx, hostbuild.Command(ctx, "", "sh", "-c", "exit 2"), &out); err == nil || err.Error() != "exit status 2" {
		t.Errorf("failing command: error = %v, want exit status 2", err)
	}
	cancel()
	err := run(ctx, hostbuild.Command(ctx, "", "sh", "-c", "sleep 60"), &out)
	if err == nil || err.Error() != "interrupted: context canceled" || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled command: error = %v, want interrupted: context canceled", err)
	}
}

// writeTestExec writes a file with the given mode, creating its directory.
func writeTestExec(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}
