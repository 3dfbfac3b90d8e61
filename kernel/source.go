package kernel

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

// debianPackage is the Debian package whose tarball is the default source.
const debianPackage = "linux-source-6.12"

// debianTarball is where debianPackage puts its source tarball.
var debianTarball = "/usr/src/" + debianPackage + ".tar.xz"

// source is a kernel source: Debian's tarball or a user's tree.
type source struct {
	tarball  string // the tarball, "" for a tree
	tree     string // the source tree; for a tarball, set once extracted
	id       string // build directory name under <root>/build
	identity string // what the cache key hashes
	desc     string // for humans and meta.json
}

// resolveSource finds the source Build uses: path, or Debian's tarball when
// path is empty (installing it when possible).
func resolveSource(ctx context.Context, path, root string, rep hostbuild.Reporter) (*source, error) {
	if path == "" {
		return tarballSource(ctx, root, rep)
	}
	return treeSource(ctx, path)
}

// tarballSource describes Debian's linux-source tarball, installing the
// package first when it is missing and we are root on Debian.
func tarballSource(ctx context.Context, root string, rep hostbuild.Reporter) (*source, error) {
	if _, err := os.Stat(debianTarball); errors.Is(err, fs.ErrNotExist) {
		if err := installDebianSource(ctx, rep); err != nil {
			return nil, err
		}
	}
	st, err := os.Stat(debianTarball)
	if err != nil {
		return nil, err
	}
	sum, err := tarballDigest(debianTarball, st, filepath.Join(root, "src"))
	if err != nil {
		return nil, err
	}
	desc := "Debian " + debianPackage
	if v, err := hostbuild.Output(ctx, "", "dpkg-query", "-W", "--showformat=${Version}", debianPackage); err == nil && v != "" {
		desc += " " + v
	}
	return &source{
		tarball:  debianTarball,
		id:       strings.TrimSuffix(filepath.Base(debianTarball), ".tar.xz"),
		identity: fmt.Sprintf("tarball size=%d sha256=%s", st.Size(), sum),
		desc:     desc + " (" + debianTarball + ")",
	}, nil
}

// installDebianSource runs apt-get install for debianPackage when that can
// work (root on Debian) and otherwise says what to do.
func installDebianSource(ctx context.Context, rep hostbuild.Reporter) error {
	_, debErr := os.Stat("/etc/debian_version")
	if debErr != nil || os.Geteuid() != 0 {
		return errMissingSource()
	}
	rep.Phase("installing %s (apt-get install -y %s)", debianPackage, debianPackage)
	cmd := hostbuild.Command(ctx, "", "apt-get", "install", "-y", debianPackage)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out strings.Builder
	if err := hostbuild.Run(ctx, cmd, &out); err != nil {
		return fmt.Errorf("install %s: %w\n%s", debianPackage, err, hostbuild.LastLines(out.String(), 20))
	}
	if _, err := os.Stat(debianTarball); err != nil {
		return fmt.Errorf("installed %s but %w", debianPackage, err)
	}
	return nil
}

// errMissingSource says how to get a kernel source.
func errMissingSource() error {
	return fmt.Errorf("%s not found: install it with `apt-get install %s` (as root), "+
		"or pass a kernel source tree with --source", debianTarball, debianPackage)
}

// tarballDigest returns the sha256 of the tarball, remembered in dir keyed by
// size and mtime so that it is hashed once.
func tarballDigest(path string, st fs.FileInfo, dir string) (string, error) {
	memo := filepath.Join(dir, filepath.Base(path)+".sha256")
	stamp := fmt.Sprintf("%d %d ", st.Size(), st.ModTime().UnixNano())
	if b, err := os.ReadFile(memo); err == nil && strings.HasPrefix(string(b), stamp) {
		if sum := strings.TrimSpace(strings.TrimPrefix(string(b), stamp)); len(sum) == 64 {
			return sum, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = hostbuild.WriteFileAtomic(memo, []byte(stamp+sum+"\n"), 0o644)
	}
	return sum, nil
}

// treeSource describes a user's kernel tree.
func treeSource(ctx context.Context, path string) (*source, error) {
	abs, err := filepath.Abs(path)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("source tree %s: %w", path, err)
	}
	for _, f := range []string{"Makefile", "Kconfig", "scripts/kconfig/merge_config.sh"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			return nil, fmt.Errorf("%s is not a kernel source tree: %w", abs, err)
		}
	}
	version, err := TreeVersion(abs)
	if err != nil {
		return nil, err
	}
	pathSum := sha256.Sum256([]byte(abs))
	s := &source{
		tree: abs,
		id:   filepath.Base(abs) + "-" + hex.EncodeToString(pathSum[:])[:8],
		desc: fmt.Sprintf("tree %s (%s", abs, version),
	}
	if head, status, ok := gitState(ctx, abs); ok {
		s.identity = fmt.Sprintf("tree version=%s git=%s status=\n%s", version, head, status)
		s.desc += ", git " + head[:min(12, len(head))]
		if status != "" {
			s.desc += ", dirty"
		}
	} else {
		sum, err := walkDigest(abs)
		if err != nil {
			return nil, fmt.Errorf("source tree %s: %w", abs, err)
		}
		s.identity = fmt.Sprintf("tree version=%s files=%s", version, sum)
	}
	s.desc += ")"
	return s, nil
}

// TreeVersion returns the Linux version of the kernel source tree at tree:
// VERSION.PATCHLEVEL.SUBLEVEL plus EXTRAVERSION from its top Makefile
// ("6.12.57", "6.14.0-rc1").
func TreeVersion(tree string) (string, error) {
	path := filepath.Join(tree, "Makefile")
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for i := 0; i < 50 && sc.Scan(); i++ {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if vals["VERSION"] == "" || vals["PATCHLEVEL"] == "" {
		return "", fmt.Errorf("%s: no VERSION/PATCHLEVEL: not a kernel Makefile", path)
	}
	return fmt.Sprintf("%s.%s.%s%s", vals["VERSION"], vals["PATCHLEVEL"], vals["SUBLEVEL"], vals["EXTRAVERSION"]), nil
}

// gitState returns HEAD and a description of uncommitted changes under dir
// (git status --porcelain, with each changed file's size and mtime so that
// editing an already modified file changes it too). ok is false when dir is
// not in a git work tree or git is unusable.
func gitState(ctx context.Context, dir string) (head, status string, ok bool) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", "", false
	}
	h, err := hostbuild.Output(ctx, dir, "git", "rev-parse", "HEAD")
	if err != nil {
		return "", "", false
	}
	top, err := hostbuild.Output(ctx, dir, "git", "rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", false
	}
	st, err := hostbuild.Output(ctx, dir, "git", "status", "--porcelain", "--", ".")
	if err != nil {
		return "", "", false
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(st, "\n"), "\n") {
		if len(line) < 4 {
			continue
		}
		name := line[3:]
		if _, after, ok := strings.Cut(name, " -> "); ok {
			name = after
		}
		b.WriteString(line)
		if fi, err := os.Lstat(filepath.Join(strings.TrimSpace(top), strings.Trim(name, `"`))); err == nil {
			fmt.Fprintf(&b, " %d %d", fi.Size(), fi.ModTime().UnixNano())
		}
		b.WriteByte('\n')
	}
	return strings.TrimSpace(h), b.String(), true
}

// buildOutput reports whether a tree entry is a build product, which
// walkDigest leaves out.
func buildOutput(rel string, d fs.DirEntry) bool {
	name := d.Name()
	if d.IsDir() {
		switch rel {
		case ".git", "include/generated", "include/config", "arch/x86/include/generated":
			return true
		}
		return false
	}
	if strings.HasPrefix(name, ".tmp") || strings.HasPrefix(name, "vmlinux") ||
		strings.HasPrefix(name, ".config") || strings.HasPrefix(name, "modules.") ||
		strings.HasPrefix(name, ".version") {
		return true
	}
	switch name {
	case "System.map", "bzImage", "Module.symvers":
		return true
	}
	switch filepath.Ext(name) {
	case ".o", ".a", ".ko", ".cmd", ".d", ".mod", ".order", ".symvers", ".lst", ".tmp":
		return true
	}
	return false
}

// walkDigest hashes the paths, sizes and mtimes of the source files under
// dir: cheap, and any edit changes it.
func walkDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if buildOutput(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", rel, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// extract unpacks src's tarball under srcRoot once and sets src.tree. A
// marker file beside the tree records the tarball it came from; without it
// the extraction is redone in place (tar restores the archive's mtimes, so an
// existing build stays incremental), and when it names another tarball the
// old tree is removed first.
func extract(ctx context.Context, src *source, srcRoot string, log io.Writer, rep hostbuild.Reporter) error {
	top, err := tarTopDir(ctx, src.tarball)
	if err != nil {
		return err
	}
	tree := filepath.Join(srcRoot, top)
	marker := tree + ".ktstr-extracted"
	prev, err := os.ReadFile(marker)
	if err == nil && string(prev) == src.identity {
		if _, err := os.Stat(filepath.Join(tree, "Makefile")); err == nil {
			src.tree = tree
			return nil
		}
	}
	if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(prev) > 0 {
		rep.Phase("removing %s, extracted from another tarball", tree)
		if err := os.RemoveAll(tree); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(srcRoot, 0o755); err != nil {
		return err
	}
	rep.Phase("extracting %s to %s (about a minute)", src.tarball, tree)
	fmt.Fprintf(log, "\n$ tar -xJf %s -C %s %s\n", src.tarball, srcRoot, top)
	if err := hostbuild.Run(ctx, hostbuild.Command(ctx, srcRoot, "tar", "-xJf", src.tarball, top), log); err != nil {
		return err
	}
	if err := hostbuild.WriteFileAtomic(marker, []byte(src.identity), 0o644); err != nil {
		return err
	}
	src.tree = tree
	return nil
}

// tarTopDir returns the top directory inside a tarball from its first entry.
func tarTopDir(ctx context.Context, tarball string) (string, error) {
	cmd := hostbuild.Command(ctx, "", "tar", "-tJf", tarball)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("tar: %w", err)
	}
	line, readErr := bufio.NewReader(pipe).ReadString('\n')
	hostbuild.KillGroup(cmd)
	_ = cmd.Wait()
	first := strings.TrimPrefix(strings.TrimSpace(line), "./")
	top, _, _ := strings.Cut(first, "/")
	if top == "" || top == "." || top == ".." {
		return "", fmt.Errorf("list %s: no top directory in first entry %q (%v)", tarball, line, readErr)
	}
	return top, nil
}
