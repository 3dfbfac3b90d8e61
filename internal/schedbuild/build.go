package schedbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/flock"
	"github.com/ktstr-go/ktstr/internal/hostbuild"
	"github.com/ktstr-go/ktstr/kernel"
)

// BuildOptions controls [Build].
type BuildOptions struct {
	// Kernel is the kernel to build against; nil means [kernel.Resolve].
	// It needs a Vmlinux (for its BTF) and a known source tree (see
	// [kernel.Image.SourceDir]).
	Kernel *kernel.Image
	// Jobs is make's -j; 0 means runtime.NumCPU().
	Jobs int
	// Force rebuilds and replaces the cache entry even when it is complete,
	// from a clean build directory. Without it a missing or incomplete entry
	// is built incrementally in the build directory an earlier build left.
	Force bool
	// SkipFixture leaves out scx_fixture, the project's own scheduler.
	SkipFixture bool
	// Progress, when not nil, receives one line per phase.
	Progress io.Writer
}

// ModulePath is the Go module that holds the scx_fixture scheduler.
const ModulePath = "github.com/ktstr-go/ktstr"

// fixturePackage is the Go package of scx_fixture.
const fixturePackage = ModulePath + "/cmd/scx_fixture"

// llvmBin is where Debian's llvm-19 puts clang and llvm-strip; it goes first
// on make's PATH.
const llvmBin = "/usr/lib/llvm-19/bin"

// schedBuildLog is the name of make's full output in the build directory.
const schedBuildLog = "ktstr-sched-build.log"

// logTailLines is how much of make's output a failure's error carries.
const logTailLines = 40

// Build builds the kernel tree's own sched_ext schedulers (scx_simple,
// scx_qmap, scx_central and scx_flatcg from tools/sched_ext) against a
// kernel (opts.Kernel, else [kernel.Resolve]) with that kernel's source tree
// and vmlinux BTF, and caches them under <cache root>/schedulers/<kernel
// key>/ (see [EntryKey]). A complete entry is reused unless opts.Force is
// set. Missing build dependencies (clang-19 llvm-19 libelf-dev zlib1g-dev
// libzstd-dev pkg-config) are installed with apt-get when running as root on
// Debian; otherwise the error names them.
//
// When the current directory is inside the ktstr module, Build also builds
// the project's fixture scheduler scx_fixture (CGO_ENABLED=0 go build) into
// the entry on every call: Go's build cache keeps that cheap, and the cached
// binary never lags behind the working tree. Outside the module it is
// skipped with a note on opts.Progress. When building scx_fixture fails, Build
// returns the kernel schedulers it cached together with the error.
//
// Cancelling ctx stops make and all its children.
func Build(ctx context.Context, opts BuildOptions) ([]Built, error) {
	return defaultToolchain().build(ctx, opts)
}

// toolchain is what Build runs, replaceable in tests.
type toolchain struct {
	// resolveKernel returns the kernel when opts.Kernel is nil.
	resolveKernel func() (kernel.Image, error)
	// sourceDir returns the kernel's source tree.
	sourceDir func(kernel.Image) (string, error)
	// ensureDeps checks (and installs) the build dependencies.
	ensureDeps func(ctx context.Context, rep hostbuild.Reporter) error
	// make runs make with args and env, output to log.
	make func(ctx context.Context, args, env []string, log io.Writer) error
	// module reports whether the current directory is inside ModulePath,
	// and why not.
	module func(ctx context.Context) (ok bool, why string)
	// goBuild builds scx_fixture to out, output to log.
	goBuild func(ctx context.Context, out string, log io.Writer) error
}

func defaultToolchain() *toolchain {
	return &toolchain{
		resolveKernel: kernel.Resolve,
		sourceDir:     kernel.Image.SourceDir,
		ensureDeps:    func(ctx context.Context, rep hostbuild.Reporter) error { return ensureDeps(ctx, hostProbe(), rep) },
		make:          runMake,
		module:        inModule,
		goBuild:       goBuildFixture,
	}
}

// newReporter returns the reporter of a scheduler build: its phase lines
// go to w (when not nil) as "ktstr: sched: <phase>".
func newReporter(w io.Writer) hostbuild.Reporter {
	return hostbuild.Reporter{W: w, Prefix: "ktstr: sched: "}
}

func (tc *toolchain) build(ctx context.Context, opts BuildOptions) ([]Built, error) {
	rep := newReporter(opts.Progress)
	var img kernel.Image
	if opts.Kernel != nil {
		img = *opts.Kernel
	} else {
		var err error
		if img, err = tc.resolveKernel(); err != nil {
			return nil, fmt.Errorf("sched build: kernel: %w", err)
		}
	}
	if img.Vmlinux == "" {
		return nil, fmt.Errorf("sched build: kernel %s (%s) has no vmlinux: its BTF is needed to build schedulers", img.Key, img.BzImage)
	}
	root, err := cachedir.Root()
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		return nil, fmt.Errorf("sched build: %w", err)
	}
	cache := filepath.Join(root, "schedulers")
	key := EntryKey(img)
	dir := filepath.Join(cache, key)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("sched build: %w", err)
	}
	lockPath := filepath.Join(cache, key+".lock")
	unlock, err := flock.Lock(ctx, lockPath, func() {
		rep.Phase("waiting for another ktstr build holding %s", lockPath)
	})
	if err != nil {
		return nil, fmt.Errorf("sched build: %w", err)
	}
	defer unlock()

	entry, _, ok := completeEntry(dir)
	if ok && !opts.Force {
		rep.Phase("using cached schedulers %s", dir)
	} else {
		entry, err = tc.buildEntry(ctx, img, root, cache, key, opts, rep)
		if err != nil {
			return nil, fmt.Errorf("sched build: %w", err)
		}
	}
	built := kernelBuilt(entry)
	if opts.SkipFixture {
		rep.Phase("skipping %s (asked to)", fixtureName)
		return built, nil
	}
	fx, err := tc.fixture(ctx, dir, rep)
	if err != nil {
		return built, fmt.Errorf("sched build: %s: %w", fixtureName, err)
	}
	if fx != nil {
		built = append(built, *fx)
	}
	return built, nil
}

// kernelBuilt returns the kernel schedulers of e in their fixed order.
func kernelBuilt(e Entry) []Built {
	var out []Built
	for _, name := range kernelSchedulers {
		for _, b := range e.Schedulers {
			if b.Name == name {
				out = append(out, b)
			}
		}
	}
	return out
}

// buildEntry runs make in the kernel's tools/sched_ext and stores the result
// as cache/key.
func (tc *toolchain) buildEntry(ctx context.Context, img kernel.Image, root, cache, key string, opts BuildOptions, rep hostbuild.Reporter) (Entry, error) {
	start := time.Now()
	src, err := tc.sourceDir(img)
	if err != nil {
		return Entry{}, fmt.Errorf("kernel source: %w", err)
	}
	schedDir := filepath.Join(src, "tools", "sched_ext")
	if _, err := os.Stat(filepath.Join(schedDir, "Makefile")); err != nil {
		return Entry{}, fmt.Errorf("kernel source %s has no tools/sched_ext (sched_ext is in Linux 6.12 and later): %w", src, err)
	}
	if err := checkVersion(src, img.Release); err != nil {
		return Entry{}, err
	}
	rep.Phase("kernel %s (%s), source %s, BTF from %s", key, orUnknown(img.Release), src, img.Vmlinux)
	if err := tc.ensureDeps(ctx, rep); err != nil {
		return Entry{}, err
	}
	out := filepath.Join(root, "build", "sched_ext-"+key)
	if opts.Force {
		// Force means a clean build: an earlier build directory is not
		// trusted (make would only relink).
		if err := os.RemoveAll(out); err != nil {
			return Entry{}, err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Entry{}, err
	}
	// Remove the binaries of an earlier build so that what gets cached is
	// what this make produced (relinking them is cheap).
	for _, name := range kernelSchedulers {
		if err := os.Remove(filepath.Join(out, "build", "bin", name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Entry{}, err
		}
	}
	logPath := filepath.Join(out, schedBuildLog)
	log, err := os.Create(logPath)
	if err != nil {
		return Entry{}, err
	}
	defer log.Close()
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	args := []string{
		"-C", schedDir, "O=" + out, "CC=gcc", "CLANG=clang", "LLVM_STRIP=llvm-strip",
		"VMLINUX_BTF=" + img.Vmlinux, "-j" + strconv.Itoa(jobs),
	}
	env := makeEnv(os.Environ(), dirExists(llvmBin))
	fmt.Fprintf(log, "ktstr sched build %s at %s\n$ make %s\n", key, start.Format(time.RFC3339), strings.Join(args, " "))
	rep.Phase("building %s in %s (log: %s)", strings.Join(kernelSchedulers, " "), out, logPath)
	makeStart := time.Now()
	if err := tc.make(ctx, args, env, log); err != nil {
		if ctx.Err() != nil {
			return Entry{}, fmt.Errorf("make: %w", err)
		}
		_ = log.Sync()
		return Entry{}, fmt.Errorf("make: %w\n--- last %d lines of %s ---\n%s", err, logTailLines, logPath, hostbuild.LogTail(logPath, logTailLines))
	}
	makeTook := time.Since(makeStart)
	bins := map[string]string{}
	for _, name := range kernelSchedulers {
		p := filepath.Join(out, "build", "bin", name)
		if !IsExecutable(p) {
			return Entry{}, fmt.Errorf("make succeeded but %s is missing or not executable (log: %s)", p, logPath)
		}
		bins[name] = p
	}
	dir := filepath.Join(cache, key)
	rep.Phase("caching in %s", dir)
	e, err := storeEntry(cache, key, bins, entryMeta{
		KernelKey: img.Key, KernelRelease: img.Release, KernelSource: img.Source, Vmlinux: img.Vmlinux,
		Source: src, Built: time.Now().UTC(), BuildSeconds: time.Since(start).Seconds(),
	})
	if err != nil {
		return Entry{}, fmt.Errorf("cache: %w", err)
	}
	rep.Phase("built %d schedulers in %s (make %s)", len(bins), time.Since(start).Round(100*time.Millisecond), makeTook.Round(100*time.Millisecond))
	return e, nil
}

// fixture builds scx_fixture into the entry dir when the current directory
// is inside the ktstr module; nil and no error when it is not.
func (tc *toolchain) fixture(ctx context.Context, dir string, rep hostbuild.Reporter) (*Built, error) {
	ok, why := tc.module(ctx)
	if !ok {
		rep.Phase("skipping %s: %s", fixtureName, why)
		return nil, nil
	}
	start := time.Now()
	rep.Phase("building %s (CGO_ENABLED=0 go build %s)", fixtureName, fixturePackage)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d", fixtureName, os.Getpid()))
	defer os.Remove(tmp)
	var out bytes.Buffer
	if err := tc.goBuild(ctx, tmp, &out); err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" && ctx.Err() == nil {
			return nil, fmt.Errorf("go build: %w\n%s", err, hostbuild.LastLines(msg, logTailLines))
		}
		return nil, fmt.Errorf("go build: %w", err)
	}
	if !IsExecutable(tmp) {
		return nil, fmt.Errorf("go build succeeded but %s is missing", tmp)
	}
	changed, err := installFixture(dir, tmp)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	state := "unchanged"
	if changed {
		state = "updated"
	}
	rep.Phase("%s %s in %s", fixtureName, state, time.Since(start).Round(100*time.Millisecond))
	return &Built{Name: fixtureName, Path: filepath.Join(dir, fixtureName)}, nil
}

// checkVersion fails when the tree's Makefile version is not the start of
// release (when release is known).
func checkVersion(src, release string) error {
	if release == "" {
		return nil
	}
	v, err := kernel.TreeVersion(src)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(release, v) {
		return fmt.Errorf("kernel source %s is Linux %s but the kernel is %s: rebuild the kernel (`ktstr kernel build`) so that tree and kernel match", src, v, release)
	}
	return nil
}

// makeEnv returns environ without the variables that would redirect the
// tools build (O, KBUILD_OUTPUT, ARCH, CROSS_COMPILE, LLVM, MAKEFLAGS), with
// llvmBin first on PATH when withLLVM.
func makeEnv(environ []string, withLLVM bool) []string {
	var env []string
	path := ""
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "O", "KBUILD_OUTPUT", "ARCH", "CROSS_COMPILE", "LLVM", "MAKEFLAGS", "MFLAGS", "MAKELEVEL":
			continue
		case "PATH":
			path = v
			continue
		}
		env = append(env, kv)
	}
	if withLLVM {
		if path == "" {
			path = llvmBin
		} else {
			path = llvmBin + string(os.PathListSeparator) + path
		}
	}
	if path != "" {
		env = append(env, "PATH="+path)
	}
	return env
}

// runMake runs make with args and env in its own process group.
func runMake(ctx context.Context, args, env []string, log io.Writer) error {
	cmd := hostbuild.Command(ctx, "", "make", args...)
	cmd.Env = env
	return run(ctx, cmd, log)
}

// inModule reports whether the current directory is inside ModulePath
// (`go list -m`).
func inModule(ctx context.Context) (bool, string) {
	if _, err := exec.LookPath("go"); err != nil {
		return false, "go is not on PATH"
	}
	var stdout, stderr bytes.Buffer
	cmd := hostbuild.Command(ctx, "", "go", "list", "-m")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return false, fmt.Sprintf("not inside the %s module (go list -m: %v: %s)", ModulePath, err, msg)
	}
	mods := strings.Fields(stdout.String())
	for _, m := range mods {
		if m == ModulePath {
			return true, ""
		}
	}
	if len(mods) == 0 || (len(mods) == 1 && mods[0] == "command-line-arguments") {
		return false, "the current directory is not inside a Go module (" + ModulePath + ")"
	}
	return false, fmt.Sprintf("the current directory is in module %s, not %s", strings.TrimSpace(stdout.String()), ModulePath)
}

// goBuildFixture builds scx_fixture to out with CGO_ENABLED=0.
func goBuildFixture(ctx context.Context, out string, log io.Writer) error {
	cmd := hostbuild.Command(ctx, "", "go", "build", "-o", out, fixturePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return run(ctx, cmd, log)
}

// run runs cmd like [hostbuild.Run] but leaves naming the command to the
// caller, whose errors say "make: ...", "go build: ..." or "apt-get
// update: ...": it returns the command's own error, or "interrupted: "
// wrapping ctx.Err() after a cancellation.
func run(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
	err := hostbuild.Run(ctx, cmd, out)
	var ce *hostbuild.Error
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Interrupted {
		return fmt.Errorf("interrupted: %w", ce.Err)
	}
	return ce.Err
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func orUnknown(s string) string {
	if s == "" {
		return "release unknown"
	}
	return s
}
