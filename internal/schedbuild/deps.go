package schedbuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

// buildPackages are the Debian packages a scheduler build needs.
var buildPackages = []string{"clang-19", "llvm-19", "libelf-dev", "zlib1g-dev", "libzstd-dev", "pkg-config", "make", "gcc"}

// probe looks at the host; tests replace it.
type probe struct {
	debian   bool // /etc/debian_version exists
	root     bool // euid 0
	exists   func(path string) bool
	lookPath func(name string) bool
	// install runs apt-get (update when update, else install -y pkgs).
	install func(ctx context.Context, update bool, pkgs []string) (string, error)
}

func hostProbe() probe {
	return probe{
		debian:   fileExists("/etc/debian_version"),
		root:     os.Geteuid() == 0,
		exists:   fileExists,
		lookPath: func(n string) bool { _, err := exec.LookPath(n); return err == nil },
		install:  aptGet,
	}
}

// missingPackages returns the packages of buildPackages that p finds
// missing, each with what was looked for. On Debian clang and llvm-strip must
// come from llvm-19 (bookworm's default clang is too old for sched_ext);
// elsewhere any clang and llvm-strip on PATH will do.
func missingPackages(p probe) (pkgs, why []string) {
	tool := func(name string) (bool, string) {
		if p.debian {
			f := filepath.Join(llvmBin, name)
			return p.exists(f), f
		}
		return p.lookPath(name), name + " on PATH"
	}
	check := func(pkg string, ok bool, what string) {
		if !ok {
			pkgs = append(pkgs, pkg)
			why = append(why, pkg+" ("+what+")")
		}
	}
	ok, what := tool("clang")
	check("clang-19", ok, what)
	ok, what = tool("llvm-strip")
	check("llvm-19", ok, what)
	check("libelf-dev", p.exists("/usr/include/libelf.h") && p.exists("/usr/include/gelf.h"), "/usr/include/libelf.h, gelf.h")
	check("zlib1g-dev", p.exists("/usr/include/zlib.h"), "/usr/include/zlib.h")
	check("libzstd-dev", p.exists("/usr/include/zstd.h"), "/usr/include/zstd.h")
	check("pkg-config", p.lookPath("pkg-config"), "pkg-config on PATH")
	check("make", p.lookPath("make"), "make on PATH")
	check("gcc", p.lookPath("gcc"), "gcc on PATH")
	return pkgs, why
}

// ensureDeps checks the build dependencies and installs the missing ones
// with apt-get when running as root on Debian (running apt-get update and
// retrying once when the install fails).
func ensureDeps(ctx context.Context, p probe, rep hostbuild.Reporter) error {
	pkgs, why := missingPackages(p)
	if len(pkgs) == 0 {
		return nil
	}
	hint := "apt-get install " + strings.Join(pkgs, " ")
	if !p.debian || !p.root {
		return fmt.Errorf("missing build dependencies %s: install them (Debian: `%s`, as root)", strings.Join(why, ", "), hint)
	}
	rep.Phase("installing %s (apt-get install -y)", strings.Join(pkgs, " "))
	out, err := p.install(ctx, false, pkgs)
	if err != nil && ctx.Err() == nil {
		rep.Phase("apt-get install failed; running apt-get update and retrying")
		if uout, uerr := p.install(ctx, true, nil); uerr != nil {
			return fmt.Errorf("apt-get update: %w\n%s", uerr, hostbuild.LastLines(uout, 20))
		}
		out, err = p.install(ctx, false, pkgs)
	}
	if err != nil {
		return fmt.Errorf("apt-get install %s: %w\n%s", strings.Join(pkgs, " "), err, hostbuild.LastLines(out, 20))
	}
	if still, why := missingPackages(p); len(still) > 0 {
		return fmt.Errorf("installed %s but still missing %s", strings.Join(pkgs, " "), strings.Join(why, ", "))
	}
	return nil
}

// aptGet runs apt-get non-interactively and returns its output.
func aptGet(ctx context.Context, update bool, pkgs []string) (string, error) {
	args := []string{"update"}
	if !update {
		args = append([]string{"install", "-y"}, pkgs...)
	}
	cmd := hostbuild.Command(ctx, "", "apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out strings.Builder
	err := run(ctx, cmd, &out)
	return out.String(), err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
