package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/flock"
	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

// BuildOptions controls [Build].
type BuildOptions struct {
	// Source is a kernel source tree. Empty means Debian's linux-source-6.12
	// tarball, /usr/src/linux-source-6.12.tar.xz, installed with apt-get
	// when missing and running as root on Debian.
	Source string
	// Jobs is make's -j; 0 means runtime.NumCPU().
	Jobs int
	// Force rebuilds and replaces the cache entry even when it exists.
	Force bool
	// Progress, when not nil, receives one line per phase and a progress
	// bar while bzImage builds.
	Progress io.Writer
}

// logTailLines is how much of the build log a failure's error carries.
const logTailLines = 40

// buildLog is the name of the full build output in the build directory.
const buildLog = "ktstr-build.log"

// sourceStamp, in a build directory, records the tarball identity the
// directory was built from.
const sourceStamp = "ktstr-source"

func numCPU() int { return runtime.NumCPU() }

// Build builds a sched_ext-capable kernel from opts.Source (defconfig,
// kvm_guest.config and the ktstr fragment, then bzImage, out of tree under
// the cache's build directory) and stores it in the cache. When the cache
// already holds a kernel with the same key (recipe, fragment, source and
// compiler) it returns that one at once, unless opts.Force is set. Cancelling
// ctx stops make and all its children.
func Build(ctx context.Context, opts BuildOptions) (Image, error) {
	rep := newReporter(opts.Progress)
	root, err := cachedir.Root()
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		return Image{}, fmt.Errorf("kernel build: %w", err)
	}
	src, err := resolveSource(ctx, opts.Source, root, rep)
	if err != nil {
		return Image{}, fmt.Errorf("kernel build: source: %w", err)
	}
	if src.tarball == "" && !hasWatchdogOverride(src.tree) {
		rep.Phase("%s", noOverrideNote(src.tree))
	}
	compiler, err := compilerVersion(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("kernel build: %w", err)
	}
	key := computeKey(recipeVersion, fragment, recipePatches, src.identity, compiler)
	kernels := filepath.Join(root, "kernels")
	if img, ok := cached(kernels, key, opts.Force, rep); ok {
		return img, nil
	}
	if err := checkTools(src.tarball != ""); err != nil {
		return Image{}, fmt.Errorf("kernel build: %w", err)
	}
	buildRoot := filepath.Join(root, "build")
	if err := os.MkdirAll(buildRoot, 0o755); err != nil {
		return Image{}, fmt.Errorf("kernel build: %w", err)
	}
	lockPath := filepath.Join(buildRoot, src.id+".lock")
	unlock, err := flock.Lock(ctx, lockPath, func() {
		rep.Phase("waiting for another ktstr build holding %s", lockPath)
	})
	if err != nil {
		return Image{}, fmt.Errorf("kernel build: %w", err)
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if img, ok := cached(kernels, key, opts.Force, rep); ok {
		return img, nil
	}
	b := &builder{
		src: src, root: root, kernels: kernels, key: key, compiler: compiler,
		dir: filepath.Join(buildRoot, src.id), jobs: opts.Jobs, rep: rep, progress: opts.Progress,
	}
	if b.jobs <= 0 {
		b.jobs = numCPU()
	}
	img, err := b.build(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("kernel build: %w", err)
	}
	return img, nil
}

// cached returns the cache entry for key, unless force or the entry is
// missing, corrupt or (which its key should rule out) stale: then it is
// built again.
func cached(kernels, key string, force bool, rep hostbuild.Reporter) (Image, bool) {
	if force {
		return Image{}, false
	}
	dir := filepath.Join(kernels, key)
	img, err := loadEntry(dir)
	switch {
	case err != nil:
		return Image{}, false
	case img.Corrupt != "":
		rep.Phase("cached kernel %s is corrupt, rebuilding it: %s", key, strings.TrimSuffix(img.Corrupt, corruptFix(dir)))
		return Image{}, false
	case img.Stale != "":
		rep.Phase("cached kernel %s is stale, rebuilding it: %s", key, img.Stale)
		return Image{}, false
	}
	rep.Phase("using cached kernel %s (%s)", key, img.Dir)
	return img, true
}

// builder carries one build's state.
type builder struct {
	src      *source
	root     string // cache root
	kernels  string // <root>/kernels
	key      string
	compiler string
	dir      string // build directory, make's O=
	jobs     int
	rep      hostbuild.Reporter
	progress io.Writer
	log      *os.File
}

func (b *builder) logPath() string { return filepath.Join(b.dir, buildLog) }

// build runs every phase after the cache lookup.
func (b *builder) build(ctx context.Context) (Image, error) {
	start := time.Now()
	if err := b.prepareDir(); err != nil {
		return Image{}, fmt.Errorf("build dir %s: %w", b.dir, err)
	}
	log, err := os.Create(b.logPath())
	if err != nil {
		return Image{}, err
	}
	defer log.Close()
	b.log = log
	fmt.Fprintf(log, "ktstr kernel build %s of %s at %s\n", b.key, b.src.desc, start.Format(time.RFC3339))
	if b.src.tarball == "" && !hasWatchdogOverride(b.src.tree) {
		fmt.Fprintln(log, noOverrideNote(b.src.tree))
	}
	if b.src.tarball != "" {
		if err := extract(ctx, b.src, filepath.Join(b.root, "src"), log, b.rep); err != nil {
			return Image{}, b.stepError("extract", err)
		}
	}
	if err := b.configure(ctx); err != nil {
		return Image{}, err
	}
	if b.src.tarball != "" {
		if err := hostbuild.WriteFileAtomic(filepath.Join(b.dir, sourceStamp), []byte(b.src.identity), 0o644); err != nil {
			return Image{}, err
		}
	}
	made, err := b.makeBzImage(ctx)
	if err != nil {
		return Image{}, err
	}
	b.rep.Phase("checking config")
	if err := b.checkConfig("after the build"); err != nil {
		return Image{}, err
	}
	release, err := b.release(ctx)
	if err != nil {
		return Image{}, b.stepError("kernelrelease", err)
	}
	elapsed := time.Since(start)
	if made.full {
		_ = writeStats(b.dir, buildStats{Lines: made.lines, Seconds: made.took.Seconds(), Jobs: min(b.jobs, numCPU())})
	}
	b.rep.Phase("caching in %s", filepath.Join(b.kernels, b.key))
	img, err := store(b.kernels, b.dir, meta{
		Key: b.key, Release: release, Source: b.src.desc, FragmentSHA256: fragmentDigest(),
		Compiler: b.compiler, Recipe: recipeVersion, Built: time.Now().UTC(), BuildSeconds: elapsed.Seconds(),
		BuildLines: made.lines, FullBuild: made.full,
		Patches: records(b.src.patches), RecipePatches: patchSetDigest(records(recipePatches)),
		WatchdogOverride: hasWatchdogOverride(b.src.tree),
	})
	if err != nil {
		return Image{}, fmt.Errorf("cache: %w", err)
	}
	b.rep.Phase("built %s (%s) in %s, %d compile and link steps", img.Key, release, elapsed.Round(time.Second), made.lines)
	return img, nil
}

// prepareDir creates the build directory, emptying it first when it was
// built from another tarball (whose files may carry older mtimes than the
// objects already built, which make would then wrongly keep). A directory
// without a stamp is reused as is.
func (b *builder) prepareDir() error {
	if b.src.tarball != "" {
		prev, err := os.ReadFile(filepath.Join(b.dir, sourceStamp))
		if err == nil && string(prev) != b.src.identity {
			b.rep.Phase("source changed: emptying %s", b.dir)
			if err := os.RemoveAll(b.dir); err != nil {
				return err
			}
		}
	}
	return os.MkdirAll(b.dir, 0o755)
}

// make runs make in the source tree with O= set to the build directory.
func (b *builder) make(ctx context.Context, out io.Writer, args ...string) error {
	args = append([]string{"O=" + b.dir}, args...)
	fmt.Fprintf(b.log, "\n$ cd %s && make %s\n", b.src.tree, strings.Join(args, " "))
	return hostbuild.Run(ctx, hostbuild.Command(ctx, b.src.tree, "make", args...), out)
}

// configure writes the final .config and checks it.
func (b *builder) configure(ctx context.Context) error {
	b.rep.Phase("configuring %s in %s", b.src.tree, b.dir)
	frag := filepath.Join(b.dir, "ktstr.config")
	if err := os.WriteFile(frag, fragment, 0o644); err != nil {
		return b.stepError("configure", err)
	}
	for _, target := range []string{"defconfig", "kvm_guest.config"} {
		if err := b.make(ctx, b.log, target); err != nil {
			return b.stepError("configure", err)
		}
	}
	merge := []string{"-m", "-O", b.dir, filepath.Join(b.dir, ".config"), frag}
	fmt.Fprintf(b.log, "\n$ cd %s && scripts/kconfig/merge_config.sh %s\n", b.src.tree, strings.Join(merge, " "))
	cmd := hostbuild.Command(ctx, b.src.tree, "scripts/kconfig/merge_config.sh", merge...)
	if err := hostbuild.Run(ctx, cmd, b.log); err != nil {
		return b.stepError("configure", err)
	}
	if err := b.make(ctx, b.log, "olddefconfig"); err != nil {
		return b.stepError("configure", err)
	}
	b.rep.Phase("checking config")
	if err := b.checkConfig("after olddefconfig"); err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	return nil
}

// checkConfig checks the build directory's .config against the fragment.
func (b *builder) checkConfig(stage string) error {
	path := filepath.Join(b.dir, ".config")
	final, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check config: %w", err)
	}
	defer final.Close()
	mm, err := CheckConfig(bytes.NewReader(fragment), final)
	if err != nil {
		return fmt.Errorf("check config: %w", err)
	}
	if len(mm) > 0 {
		return &ConfigError{Stage: stage, Config: path, Mismatches: mm}
	}
	return nil
}

// made describes a finished make bzImage.
type made struct {
	lines int           // CC/LD/AR lines printed
	full  bool          // started without a vmlinux in the build directory
	took  time.Duration // wall time of make
}

// makeBzImage runs make bzImage, with a progress bar when asked.
func (b *builder) makeBzImage(ctx context.Context) (made, error) {
	start := time.Now()
	full := !exists(filepath.Join(b.dir, "vmlinux"))
	total, eta := estimate(b.dir, b.jobs)
	if full {
		b.rep.Phase("building bzImage (%s; log: %s)", eta, b.logPath())
	} else {
		b.rep.Phase("building bzImage incrementally in %s (log: %s)", b.dir, b.logPath())
		total = -1
	}
	counter := &lineCounter{}
	var bar *progressbar.ProgressBar
	if b.progress != nil {
		bar = newBar(b.progress, total)
		counter.onLine = barUpdater(bar, total)
	}
	err := b.make(ctx, io.MultiWriter(b.log, counter), "-j"+strconv.Itoa(b.jobs), "bzImage")
	if bar != nil {
		if err != nil || total < 0 {
			_ = bar.Exit() // keeps the bar as it is and ends its line
		} else {
			_ = bar.Finish()
		}
	}
	if err != nil {
		return made{}, b.stepError("build bzImage", err)
	}
	for _, f := range []string{"arch/x86/boot/bzImage", "vmlinux"} {
		if !exists(filepath.Join(b.dir, f)) {
			return made{}, b.stepError("build bzImage", fmt.Errorf("make succeeded but %s is missing", f))
		}
	}
	return made{lines: counter.count(), full: full, took: time.Since(start)}, nil
}

// release returns the kernel release of the build.
func (b *builder) release(ctx context.Context) (string, error) {
	if data, err := os.ReadFile(filepath.Join(b.dir, "include/config/kernel.release")); err == nil {
		if r := strings.TrimSpace(string(data)); r != "" {
			return r, nil
		}
	}
	out, err := hostbuild.Output(ctx, b.src.tree, "make", "-s", "O="+b.dir, "kernelrelease")
	return strings.TrimSpace(out), err
}

// stepError wraps a failed step's error with the tail of the build log,
// except for cancellations.
func (b *builder) stepError(step string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", step, err)
	}
	if b.log != nil {
		_ = b.log.Sync()
	}
	return fmt.Errorf("%s: %w\n--- last %d lines of %s ---\n%s", step, err, logTailLines, b.logPath(), hostbuild.LogTail(b.logPath(), logTailLines))
}
