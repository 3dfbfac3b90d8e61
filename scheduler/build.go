package scheduler

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
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

// killGrace is how long a cancelled command's process group has between
// SIGTERM and SIGKILL.
const killGrace = 10 * time.Second

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
	ensureDeps func(ctx context.Context, rep reporter) error
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
		ensureDeps:    func(ctx context.Context, rep reporter) error { return ensureDeps(ctx, hostProbe(), rep) },
		make:          runMake,
		module:        inModule,
		goBuild:       goBuildFixture,
	}
}

// reporter prints phase lines to w, when w is not nil.
type reporter struct{ w io.Writer }

func (r reporter) phase(format string, args ...any) {
	if r.w != nil {
		fmt.Fprintf(r.w, "ktstr: sched: "+format+"\n", args...)
	}
}

func (tc *toolchain) build(ctx context.Context, opts BuildOptions) ([]Built, error) {
	rep := reporter{opts.Progress}
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
	unlock, err := lockFile(ctx, filepath.Join(cache, key+".lock"), rep)
	if err != nil {
		return nil, fmt.Errorf("sched build: %w", err)
	}
	defer unlock()

	entry, _, ok := completeEntry(dir)
	if ok && !opts.Force {
		rep.phase("using cached schedulers %s", dir)
	} else {
		entry, err = tc.buildEntry(ctx, img, root, cache, key, opts, rep)
		if err != nil {
			return nil, fmt.Errorf("sched build: %w", err)
		}
	}
	built := kernelBuilt(entry)
	if opts.SkipFixture {
		rep.phase("skipping %s (asked to)", fixtureName)
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
func (tc *toolchain) buildEntry(ctx context.Context, img kernel.Image, root, cache, key string, opts BuildOptions, rep reporter) (Entry, error) {
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
	rep.phase("kernel %s (%s), source %s, BTF from %s", key, orUnknown(img.Release), src, img.Vmlinux)
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
	rep.phase("building %s in %s (log: %s)", strings.Join(kernelSchedulers, " "), out, logPath)
	makeStart := time.Now()
	if err := tc.make(ctx, args, env, log); err != nil {
		if ctx.Err() != nil {
			return Entry{}, fmt.Errorf("make: %w", err)
		}
		_ = log.Sync()
		return Entry{}, fmt.Errorf("make: %w\n--- last %d lines of %s ---\n%s", err, logTailLines, logPath, logTail(logPath, logTailLines))
	}
	makeTook := time.Since(makeStart)
	bins := map[string]string{}
	for _, name := range kernelSchedulers {
		p := filepath.Join(out, "build", "bin", name)
		if !isExecutable(p) {
			return Entry{}, fmt.Errorf("make succeeded but %s is missing or not executable (log: %s)", p, logPath)
		}
		bins[name] = p
	}
	dir := filepath.Join(cache, key)
	rep.phase("caching in %s", dir)
	e, err := storeEntry(cache, key, bins, entryMeta{
		KernelKey: img.Key, KernelRelease: img.Release, KernelSource: img.Source, Vmlinux: img.Vmlinux,
		Source: src, Built: time.Now().UTC(), BuildSeconds: time.Since(start).Seconds(),
	})
	if err != nil {
		return Entry{}, fmt.Errorf("cache: %w", err)
	}
	rep.phase("built %d schedulers in %s (make %s)", len(bins), time.Since(start).Round(100*time.Millisecond), makeTook.Round(100*time.Millisecond))
	return e, nil
}

// fixture builds scx_fixture into the entry dir when the current directory
// is inside the ktstr module; nil and no error when it is not.
func (tc *toolchain) fixture(ctx context.Context, dir string, rep reporter) (*Built, error) {
	ok, why := tc.module(ctx)
	if !ok {
		rep.phase("skipping %s: %s", fixtureName, why)
		return nil, nil
	}
	start := time.Now()
	rep.phase("building %s (CGO_ENABLED=0 go build %s)", fixtureName, fixturePackage)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d", fixtureName, os.Getpid()))
	defer os.Remove(tmp)
	var out bytes.Buffer
	if err := tc.goBuild(ctx, tmp, &out); err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" && ctx.Err() == nil {
			return nil, fmt.Errorf("go build: %w\n%s", err, lastLines(msg, logTailLines))
		}
		return nil, fmt.Errorf("go build: %w", err)
	}
	if !isExecutable(tmp) {
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
	rep.phase("%s %s in %s", fixtureName, state, time.Since(start).Round(100*time.Millisecond))
	return &Built{Name: fixtureName, Path: filepath.Join(dir, fixtureName)}, nil
}

// checkVersion fails when the tree's Makefile version is not the start of
// release (when release is known).
func checkVersion(src, release string) error {
	if release == "" {
		return nil
	}
	v, err := makefileVersion(filepath.Join(src, "Makefile"))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(release, v) {
		return fmt.Errorf("kernel source %s is Linux %s but the kernel is %s: rebuild the kernel (`ktstr kernel build`) so that tree and kernel match", src, v, release)
	}
	return nil
}

// makefileVersion returns VERSION.PATCHLEVEL.SUBLEVEL plus EXTRAVERSION
// from a kernel's top Makefile.
func makefileVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for i := 0; i < 50 && sc.Scan(); i++ {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if vals["VERSION"] == "" || vals["PATCHLEVEL"] == "" {
		return "", fmt.Errorf("%s: no VERSION/PATCHLEVEL: not a kernel Makefile", path)
	}
	return fmt.Sprintf("%s.%s.%s%s", vals["VERSION"], vals["PATCHLEVEL"], vals["SUBLEVEL"], vals["EXTRAVERSION"]), nil
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
	cmd := command(ctx, "", "make", args...)
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
	cmd := command(ctx, "", "go", "list", "-m")
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
	cmd := command(ctx, "", "go", "build", "-o", out, fixturePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return run(ctx, cmd, log)
}

// command returns a command that runs in dir in its own process group. When
// ctx is cancelled the whole group gets SIGTERM, and SIGKILL after killGrace.
func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = killGrace
	return cmd
}

// run runs cmd with stdout and stderr going to out. After a cancellation it
// kills what is left of the process group and wraps ctx.Err(). The caller
// names the command in its error.
func run(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ctx.Err() != nil {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

// lockFile takes an exclusive flock on path, waiting (and saying so) while
// another process holds it, until ctx ends. The returned func releases it.
func lockFile(ctx context.Context, path string, rep reporter) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for waited := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			rep.phase("waiting for another ktstr build holding %s", path)
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// logTail returns about the last n lines of the file at path.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(st.Size()-window, io.SeekStart); err != nil {
			return fmt.Sprintf("(cannot read log: %v)", err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return lastLines(string(data), n)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
