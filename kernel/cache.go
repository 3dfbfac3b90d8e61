package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

// Image is a kernel ready to boot. Only BzImage is always set: a kernel given
// by path through KTSTR_KERNEL may lack the others.
type Image struct {
	// Key is the cache key, "" for a kernel outside the cache.
	Key string
	// Dir is the directory holding the kernel (the cache entry, the build
	// directory or the image file's directory).
	Dir string
	// BzImage is the bootable image (a bzImage, or an ELF vmlinux that QEMU
	// boots through PVH).
	BzImage string
	// Vmlinux is the uncompressed ELF kernel with BTF and symbols, or "".
	Vmlinux string
	// Config is the kernel's final .config, or "".
	Config string
	// Release is the kernel release (uname -r), or "" when unknown.
	Release string
	// Source describes what the kernel was built from.
	Source string
	// Built is when the kernel was built (for a kernel outside the cache,
	// the image file's mtime).
	Built time.Time
	// WatchdogOverride is set when the kernel is known to carry ktstr's
	// sched_ext watchdog override (the kernel parameter
	// sched_ext.watchdog_override_ms, from
	// kernel/patches/0001-sched_ext-watchdog-override.patch): a cache entry
	// whose meta.json says so. It is false for every other kernel, also when
	// unknown (a kernel outside the cache); in the guest,
	// /sys/module/sched_ext/parameters/watchdog_override_ms exists exactly
	// when the kernel has it.
	WatchdogOverride bool
	// Stale, for a cache entry not built by the current recipe (build steps,
	// fragment, patches), says why: "older recipe (...)", "other fragment",
	// "other patches". Without KTSTR_KERNEL [Resolve] never returns a stale
	// entry; one that KTSTR_KERNEL names is returned with Stale set, for the
	// caller to log.
	Stale string `json:",omitempty"`
	// Corrupt, for a cache entry whose files do not match what its
	// meta.json records, says which file and what is wrong, and how to fix
	// it. [List] returns such entries; [Resolve] never does.
	Corrupt string `json:",omitempty"`
	// Skipped, set by [Resolve] without KTSTR_KERNEL, lists the newer cache
	// entries of the current recipe it passed over because they are
	// corrupt, each as "<key>: <what is wrong>".
	Skipped []string `json:",omitempty"`
}

// Current reports whether img is a cache entry built by the current recipe
// whose files are intact: one that [Resolve] picks without KTSTR_KERNEL.
func (img Image) Current() bool {
	return img.Key != "" && img.Stale == "" && img.Corrupt == ""
}

// Names of the files in a cache entry.
const (
	entryBzImage = "bzImage"
	entryVmlinux = "vmlinux"
	entryConfig  = "config"
	entryMeta    = "meta.json"
)

// meta is a cache entry's meta.json.
type meta struct {
	Key            string    `json:"key"`
	Release        string    `json:"release"`
	Source         string    `json:"source"`
	FragmentSHA256 string    `json:"fragment_sha256"`
	Compiler       string    `json:"compiler,omitempty"`
	Recipe         string    `json:"recipe,omitempty"`
	Built          time.Time `json:"built"`
	BuildSeconds   float64   `json:"build_seconds"`
	// BuildLines counts the CC/LD/AR lines make printed for this build;
	// FullBuild says whether it started from an empty build directory.
	BuildLines int  `json:"build_lines"`
	FullBuild  bool `json:"full_build"`
	// Patches are the patches ktstr applied to the source, in order: the
	// recipe's patches for Debian's tarball, none for a user's tree (which
	// is never modified).
	Patches []patchRecord `json:"patches"`
	// RecipePatches is the digest (patchSetDigest) of the recipe's patch
	// set, applied or not: with Recipe and FragmentSHA256 it identifies the
	// recipe the entry was built by.
	RecipePatches string `json:"recipe_patches_sha256,omitempty"`
	// WatchdogOverride says whether the kernel has the sched_ext watchdog
	// override (sched_ext.watchdog_override_ms).
	WatchdogOverride bool `json:"watchdog_override"`
	// Files records the size and sha256 of bzImage, vmlinux and config as
	// stored, to detect damaged entries. Entries of recipe 1 lack it.
	Files map[string]fileRecord `json:"files,omitempty"`
}

// fileRecord is the size and sha256 of a file of a cache entry.
type fileRecord struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// writeMeta writes dir/meta.json atomically.
func writeMeta(dir string, m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return hostbuild.WriteFileAtomic(filepath.Join(dir, entryMeta), append(b, '\n'), 0o644)
}

func readMeta(dir string) (meta, error) {
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, entryMeta))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, entryMeta), err)
	}
	return m, nil
}

// kernelsDir returns <cache root>/kernels as an absolute path.
func kernelsDir(create bool) (string, error) {
	d, err := cachedir.Sub("kernels", create)
	if err != nil {
		return "", err
	}
	return filepath.Abs(d)
}

// entryFiles are the files of a cache entry that meta.json records.
var entryFiles = []string{entryBzImage, entryVmlinux, entryConfig}

// loadEntry reads the cache entry in dir, with its verdict: Stale and
// Corrupt (see [Image]; an entry without meta.json, or with one that does
// not parse, is corrupt). It fails, and List skips the directory, only when
// the directory has neither a bzImage nor a meta.json that records one.
func loadEntry(dir string) (Image, error) {
	img := Image{Key: filepath.Base(dir), Dir: dir, BzImage: filepath.Join(dir, entryBzImage)}
	m, merr := readMeta(dir)
	st, err := os.Stat(img.BzImage)
	if err != nil && (merr != nil || len(m.Files) == 0) {
		return Image{}, err
	}
	if err == nil {
		if !st.Mode().IsRegular() {
			return Image{}, fmt.Errorf("%s is not a regular file", img.BzImage)
		}
		img.Built = st.ModTime()
	}
	if p := filepath.Join(dir, entryVmlinux); exists(p) {
		img.Vmlinux = p
	}
	if p := filepath.Join(dir, entryConfig); exists(p) {
		img.Config = p
	}
	switch {
	case errors.Is(merr, fs.ErrNotExist):
		img.Corrupt = corruptNote(dir, entryMeta+" is missing")
		return img, nil
	case merr != nil:
		img.Corrupt = corruptNote(dir, merr.Error())
		return img, nil
	}
	if m.Key != "" {
		img.Key = m.Key
	}
	img.Release, img.Source, img.WatchdogOverride = m.Release, m.Source, m.WatchdogOverride
	if !m.Built.IsZero() {
		img.Built = m.Built
	}
	img.Stale = staleReason(m)
	if problems := checkEntryFiles(dir, m, img.Stale != ""); len(problems) > 0 {
		img.Corrupt = corruptNote(dir, strings.Join(problems, "; "))
	}
	return img, nil
}

// corruptNote is Image.Corrupt for the entry in dir: the problem, then
// corruptFix(dir).
func corruptNote(dir, problem string) string {
	return problem + corruptFix(dir)
}

// corruptFix is how Image.Corrupt ends for the entry in dir.
func corruptFix(dir string) string {
	return fmt.Sprintf(" (rebuild it with `ktstr kernel build --force`, or delete %s)", dir)
}

// staleReason says why the recipe m records is not the current one, or "".
func staleReason(m meta) string {
	if m.Recipe != recipeVersion {
		rel := "older"
		if n, ok := recipeNumber(m.Recipe); ok {
			if cur, _ := recipeNumber(recipeVersion); n > cur {
				rel = "newer"
			}
		}
		got := m.Recipe
		if got == "" {
			got = "none recorded"
		}
		return fmt.Sprintf("%s recipe (%s; current %s)", rel, got, recipeVersion)
	}
	if m.FragmentSHA256 != fragmentDigest() {
		return "other fragment (sha256 " + short(m.FragmentSHA256) + "; current " + short(fragmentDigest()) + ")"
	}
	if m.RecipePatches != patchSetDigest(records(recipePatches)) {
		return "other patches (patch set sha256 " + short(m.RecipePatches) + "; current " +
			short(patchSetDigest(records(recipePatches))) + ": " + describePatches(records(recipePatches)) + ")"
	}
	return ""
}

// recipeNumber returns N of "ktstr-kernel-recipe-N".
func recipeNumber(r string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(r, "ktstr-kernel-recipe-"))
	return n, err == nil && strings.HasPrefix(r, "ktstr-kernel-recipe-")
}

func short(sum string) string {
	if sum == "" {
		return "none"
	}
	return sum[:min(12, len(sum))]
}

// fragmentDigest is the sha256 of the embedded fragment, hex.
func fragmentDigest() string {
	sum := sha256.Sum256(fragment)
	return hex.EncodeToString(sum[:])
}

// checkEntryFiles checks the files of the entry in dir against m.Files:
// the size of each, the sha256 of bzImage and config, the ELF header of
// vmlinux (about 200 MB, so not hashed on every use), and that bzImage is a
// kernel image. An entry written before meta.json recorded files (legacy,
// which is then stale anyway) only gets the last check. It returns the
// problems found.
func checkEntryFiles(dir string, m meta, legacy bool) []string {
	bz := filepath.Join(dir, entryBzImage)
	if len(m.Files) == 0 {
		if !legacy {
			return []string{entryMeta + " records no file sizes and hashes"}
		}
		if err := checkImage(bz); err != nil {
			return []string{err.Error()}
		}
		return nil
	}
	var problems []string
	for _, name := range entryFiles {
		p := filepath.Join(dir, name)
		rec, ok := m.Files[name]
		if !ok {
			problems = append(problems, entryMeta+" records no "+name)
			continue
		}
		st, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, p+" is missing")
			continue
		case err != nil:
			problems = append(problems, err.Error())
			continue
		case !st.Mode().IsRegular():
			problems = append(problems, p+" is not a regular file")
			continue
		case st.Size() != rec.Size:
			what := ""
			if st.Size() < rec.Size {
				what = " (truncated)"
			}
			problems = append(problems, fmt.Sprintf("%s is %d bytes, %s records %d%s", p, st.Size(), entryMeta, rec.Size, what))
			continue
		}
		if name == entryVmlinux {
			if !isELF(p) {
				problems = append(problems, p+" has no ELF header")
			}
			continue
		}
		sum, err := fileSHA256(p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if sum != rec.SHA256 {
			problems = append(problems, fmt.Sprintf("%s has sha256 %s, %s records %s", p, short(sum), entryMeta, short(rec.SHA256)))
			continue
		}
		if name == entryBzImage {
			if err := checkImage(p); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	return problems
}

// fileSHA256 returns the sha256 of the file at path, hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// List returns the cached kernels, newest first, each with its verdict
// (Image.Stale, Image.Corrupt; see [Image.Current]). Checking an entry
// reads its bzImage and config whole and the start of its vmlinux.
// Directories with neither a bzImage nor a meta.json recording one are
// skipped; an empty or missing cache is no error.
func List() ([]Image, error) {
	dir, err := kernelsDir(false)
	if err != nil {
		return nil, fmt.Errorf("kernel list: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kernel list: %w", err)
	}
	var imgs []Image
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		img, err := loadEntry(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		imgs = append(imgs, img)
	}
	sort.SliceStable(imgs, func(i, j int) bool {
		if !imgs[i].Built.Equal(imgs[j].Built) {
			return imgs[i].Built.After(imgs[j].Built)
		}
		return imgs[i].Key < imgs[j].Key
	})
	return imgs, nil
}

// store copies a finished build from buildDir into kernels/<key> with
// [hostbuild.StoreDir] (atomically, replacing an older entry with that
// key), recording each file's size and sha256 in m.Files and writing
// meta.json in the same step.
func store(kernels, buildDir string, m meta) (Image, error) {
	final, err := hostbuild.StoreDir(kernels, m.Key, func(tmp string) error {
		m.Files = map[string]fileRecord{}
		for _, f := range []struct{ dst, src string }{
			{entryBzImage, filepath.Join(buildDir, "arch/x86/boot/bzImage")},
			{entryVmlinux, filepath.Join(buildDir, "vmlinux")},
			{entryConfig, filepath.Join(buildDir, ".config")},
		} {
			rec, err := copyRecord(filepath.Join(tmp, f.dst), f.src)
			if err != nil {
				return err
			}
			m.Files[f.dst] = rec
		}
		return writeMeta(tmp, m)
	})
	if err != nil {
		return Image{}, err
	}
	img, err := loadEntry(final)
	if err == nil && img.Corrupt != "" {
		err = fmt.Errorf("stored entry %s: %s", final, img.Corrupt)
	}
	return img, err
}

// copyRecord copies src to the new file dst (mode 0644), hashing it on the
// way, and returns its size and sha256.
func copyRecord(dst, src string) (fileRecord, error) {
	in, err := os.Open(src)
	if err != nil {
		return fileRecord{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fileRecord{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err != nil {
		out.Close()
		return fileRecord{}, fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fileRecord{}, err
	}
	return fileRecord{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// SourceDir returns the kernel source tree img was built from, so that tools
// built against the kernel (tools/sched_ext) use the same tree: for a kernel
// build directory, the tree its "source" link names (or the directory itself
// for an in-tree build); for a cache entry built from a tree given with
// BuildOptions.Source, that tree; for one built from Debian's source tarball,
// the extracted tree under <cache root>/src (found through the build
// directory's "source" link). The error says so when the tree is unknown or
// no longer on disk.
func (img Image) SourceDir() (string, error) {
	if img.Dir != "" && exists(filepath.Join(img.Dir, "arch/x86/boot/bzImage")) {
		if t, err := filepath.EvalSymlinks(filepath.Join(img.Dir, "source")); err == nil {
			return t, nil
		}
		if exists(filepath.Join(img.Dir, "Kconfig")) {
			return img.Dir, nil
		}
	}
	var tree string
	switch {
	case strings.HasPrefix(img.Source, "tree "):
		tree, _, _ = strings.Cut(strings.TrimPrefix(img.Source, "tree "), " (")
	case strings.HasPrefix(img.Source, "Debian "):
		i, j := strings.LastIndex(img.Source, "("), strings.LastIndex(img.Source, ")")
		if i < 0 || j < i {
			return "", fmt.Errorf("kernel %s: no tarball in source %q", img.Key, img.Source)
		}
		id := strings.TrimSuffix(filepath.Base(img.Source[i+1:j]), ".tar.xz")
		root, err := cachedir.Root()
		if err != nil {
			return "", err
		}
		tree = filepath.Join(root, "src", id)
		if t, err := filepath.EvalSymlinks(filepath.Join(root, "build", id, "source")); err == nil {
			tree = t
		}
	default:
		return "", fmt.Errorf("kernel %s: source tree unknown (source %q)", img.Key, img.Source)
	}
	if !exists(filepath.Join(tree, "Makefile")) {
		return "", fmt.Errorf("kernel %s: source tree %s is missing: rebuild the kernel with `ktstr kernel build --force` to extract it again", img.Key, tree)
	}
	return tree, nil
}
