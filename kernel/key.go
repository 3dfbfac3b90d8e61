package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

// recipeVersion names the build recipe (the steps in build.go and the cache
// entry layout). Change it whenever they change, so that kernels built the
// old way are not reused.
//
// Recipe 2: the embedded patches (kernel/patches) are applied to Debian's
// tree, and meta.json records them and each file's size and sha256.
const recipeVersion = "ktstr-kernel-recipe-2"

// buildDeps is the apt-get command that installs what a kernel build needs.
const buildDeps = "apt-get install build-essential flex bison bc libelf-dev libssl-dev dwarves"

// computeKey returns the cache key for a build: the first 16 hex digits of a
// sha256 over the recipe version, the fragment, the recipe's patches (names
// and contents, in order: they are part of the recipe whether or not the
// source gets them), the source identity and the compiler version, each
// length-prefixed so no two input sets collide.
func computeKey(recipe string, frag []byte, patches []kpatch, sourceIdentity, compiler string) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(recipe), frag, patchBytes(patches), []byte(sourceIdentity), []byte(compiler)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// compilerVersion returns the first line of `gcc --version`.
func compilerVersion(ctx context.Context) (string, error) {
	out, err := hostbuild.Output(ctx, "", "gcc", "--version")
	if err != nil {
		return "", fmt.Errorf("gcc: %w (install the build tools: %s)", err, buildDeps)
	}
	line, _, _ := strings.Cut(out, "\n")
	return strings.TrimSpace(line), nil
}

// checkTools fails, naming the packages to install, when a program the
// build runs is missing.
func checkTools(tarball bool) error {
	tools := []string{"make", "gcc", "flex", "bison", "bc", "pahole", "perl"}
	if tarball {
		tools = append(tools, "tar", "xz", "patch")
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing build tools %s: install them with `%s` (pahole is in dwarves, xz in xz-utils, patch in patch)",
			strings.Join(missing, ", "), buildDeps)
	}
	return nil
}
