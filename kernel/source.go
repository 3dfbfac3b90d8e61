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
	// patches are applied to the extracted tarball; never to a tree.
	patches []kpatch
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
		patches:  recipePatches,
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
	sum, err := fileSHA256(path)
	if err != nil {
		return "", err
	}
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

// markerSuffix names the extraction marker beside an extracted tree.
const markerSuffix = ".ktstr-extracted"

// extractMarker is what the marker file beside an extracted tree records:
// the tarball it came from (identity, the first line), the patches applied
// to it since ("patch NAME SHA256" lines) and the files those patches
// changed ("file PATH" for a file of the tarball, "new PATH" for one they
// created). "pending" says that the tree is being patched: the files listed
// may hold anything and come back from the tarball before the next
// patching. A marker written before ktstr patched kernels holds the
// identity alone: no patches.
type extractMarker struct {
	identity string
	pending  bool
	patches  []patchRecord
	files    []markedFile
}

// markedFile is a file a patch changes.
type markedFile struct {
	path      string // relative to the tree
	inTarball bool   // false when a patch creates it
}

func (m extractMarker) encode() []byte {
	var b strings.Builder
	b.WriteString(m.identity + "\n")
	if m.pending {
		b.WriteString("pending\n")
	}
	for _, p := range m.patches {
		fmt.Fprintf(&b, "patch %s %s\n", p.Name, p.SHA256)
	}
	for _, f := range m.files {
		kind := "file"
		if !f.inTarball {
			kind = "new"
		}
		fmt.Fprintf(&b, "%s %s\n", kind, f.path)
	}
	return []byte(b.String())
}

// readMarker reads and parses a marker file.
func readMarker(path string) (extractMarker, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return extractMarker{}, err
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	m := extractMarker{identity: lines[0]}
	for _, line := range lines[1:] {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "pending":
			m.pending = true
		case "patch":
			name, sum, ok := strings.Cut(rest, " ")
			if !ok || name == "" || sum == "" {
				return extractMarker{}, fmt.Errorf("%s: bad line %q", path, line)
			}
			m.patches = append(m.patches, patchRecord{Name: name, SHA256: sum})
		case "file", "new":
			if rest == "" || !filepath.IsLocal(rest) {
				return extractMarker{}, fmt.Errorf("%s: bad line %q", path, line)
			}
			m.files = append(m.files, markedFile{path: rest, inTarball: kind == "file"})
		default:
			return extractMarker{}, fmt.Errorf("%s: bad line %q", path, line)
		}
	}
	return m, nil
}

// extract makes src.tree the tree of src's tarball under srcRoot with
// exactly src.patches applied, and sets src.tree. The marker file beside the
// tree (see [extractMarker]) records the tarball and the patches applied:
//
//   - tree and marker match: nothing to do;
//   - same tarball, other patches (or a patching that did not finish): the
//     files the earlier patches changed come back from the tarball (with the
//     current time as mtime, so that make rebuilds what depends on them),
//     then the current patches are applied;
//   - no marker (an extraction that did not finish, or none yet): the
//     tarball is extracted in place (tar restores the archive's mtimes, so
//     an existing build stays incremental), then patched;
//   - a marker naming another tarball (or an unreadable one, or no Makefile
//     in the tree): the old tree is removed first.
//
// Patches are applied with patch -p1 after a dry run; one that does not
// apply fails the extraction with the marker left pending, so that the
// next attempt starts again from the tarball's files.
func extract(ctx context.Context, src *source, srcRoot string, log io.Writer, rep hostbuild.Reporter) error {
	top, prefix, err := tarTopDir(ctx, src.tarball)
	if err != nil {
		return err
	}
	tree := filepath.Join(srcRoot, top)
	marker := tree + markerSuffix
	prev, perr := readMarker(marker)
	want := records(src.patches)
	if perr == nil && prev.identity == src.identity && exists(filepath.Join(tree, "Makefile")) {
		if !prev.pending && sameRecords(prev.patches, want) {
			src.tree = tree
			return nil
		}
		if prev.pending {
			rep.Phase("patching of %s did not finish: starting again from the tarball's files", tree)
		} else {
			rep.Phase("patch set changed: bringing %s to the tarball plus %s", tree, describePatches(want))
		}
		return patchTree(ctx, src, tree, prefix, prev.files, log, rep)
	}
	if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !errors.Is(perr, fs.ErrNotExist) {
		rep.Phase("removing %s, extracted from another tarball or damaged", tree)
		if err := os.RemoveAll(tree); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(srcRoot, 0o755); err != nil {
		return err
	}
	rep.Phase("extracting %s to %s (about a minute)", src.tarball, tree)
	fmt.Fprintf(log, "\n$ tar -xJf %s -C %s %s\n", src.tarball, srcRoot, prefix+top)
	if err := hostbuild.Run(ctx, hostbuild.Command(ctx, srcRoot, "tar", "-xJf", src.tarball, prefix+top), log); err != nil {
		return err
	}
	return patchTree(ctx, src, tree, prefix, nil, log, rep)
}

// describePatches lists patch names for messages.
func describePatches(rs []patchRecord) string {
	if len(rs) == 0 {
		return "no patches"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// patchTree restores the files in restore from the tarball, applies
// src.patches to tree in order and writes the marker.
func patchTree(ctx context.Context, src *source, tree, prefix string, restore []markedFile, log io.Writer, rep hostbuild.Reporter) error {
	marker := tree + markerSuffix
	// Everything that may change from here on, for a pending marker.
	touched := append([]markedFile(nil), restore...)
	listed := map[string]bool{}
	for _, f := range restore {
		listed[f.path] = true
	}
	for _, p := range src.patches {
		for _, f := range p.files {
			if !listed[f] {
				listed[f] = true
				// Not changed by an earlier patch set: as in the tarball.
				touched = append(touched, markedFile{path: f, inTarball: exists(filepath.Join(tree, f))})
			}
		}
	}
	if err := hostbuild.WriteFileAtomic(marker, extractMarker{identity: src.identity, pending: true, files: touched}.encode(), 0o644); err != nil {
		return err
	}
	if len(restore) > 0 {
		if err := restoreFiles(ctx, src.tarball, tree, prefix, restore, log, rep); err != nil {
			return fmt.Errorf("restore %s from %s: %w", tree, src.tarball, err)
		}
	}
	for _, p := range src.patches {
		rep.Phase("applying %s to %s", p.name, tree)
		if err := applyPatch(ctx, tree, p, log); err != nil {
			return err
		}
	}
	// The marker lists the files the applied patches changed.
	var files []markedFile
	for _, f := range touched {
		for _, p := range src.patches {
			if containsString(p.files, f.path) {
				files = append(files, f)
				break
			}
		}
	}
	done := extractMarker{identity: src.identity, patches: records(src.patches), files: files}
	if err := hostbuild.WriteFileAtomic(marker, done.encode(), 0o644); err != nil {
		return err
	}
	src.tree = tree
	return nil
}

// restoreFiles puts files back as the tarball has them: the ones it holds
// are extracted again, with the current time as mtime (tar -m) so that make
// sees them as changed; the ones patches created are removed.
func restoreFiles(ctx context.Context, tarball, tree, prefix string, files []markedFile, log io.Writer, rep hostbuild.Reporter) error {
	top := filepath.Base(tree)
	args := []string{"-xmJf", tarball, "--occurrence=1"}
	n := 0
	for _, f := range files {
		if !f.inTarball {
			if err := os.Remove(filepath.Join(tree, f.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		args = append(args, prefix+top+"/"+f.path)
		n++
	}
	if n == 0 {
		return nil
	}
	rep.Phase("restoring %d files of %s from %s", n, tree, tarball)
	fmt.Fprintf(log, "\n$ cd %s && tar %s\n", filepath.Dir(tree), strings.Join(args, " "))
	return hostbuild.Run(ctx, hostbuild.Command(ctx, filepath.Dir(tree), "tar", args...), log)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tarTopDir returns the top directory inside a tarball from its first
// entry, and the prefix its member names carry before it ("./" or "").
func tarTopDir(ctx context.Context, tarball string) (top, prefix string, err error) {
	cmd := hostbuild.Command(ctx, "", "tar", "-tJf", tarball)
	// An os.Pipe, not cmd.StdoutPipe: hostbuild.Start waits for the command
	// at once, and Wait closes the pipes it made.
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", "", err
	}
	defer pr.Close()
	cmd.Stdout = pw
	wait, err := hostbuild.Start(cmd)
	pw.Close()
	if err != nil {
		return "", "", fmt.Errorf("tar: %w", err)
	}
	line, readErr := bufio.NewReader(pr).ReadString('\n')
	hostbuild.KillGroup(cmd)
	_ = wait()
	line = strings.TrimSpace(line)
	first := strings.TrimPrefix(line, "./")
	if len(first) < len(line) {
		prefix = "./"
	}
	top, _, _ = strings.Cut(first, "/")
	if top == "" || top == "." || top == ".." {
		return "", "", fmt.Errorf("list %s: no top directory in first entry %q (%v)", tarball, line, readErr)
	}
	return top, prefix, nil
}
