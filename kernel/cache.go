package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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
}

// Names of the files in a cache entry.
const (
	entryBzImage = "bzImage"
	entryVmlinux = "vmlinux"
	entryConfig  = "config"
	entryMeta    = "meta.json"
)

// Interrupted stores leave temporary directories (.tmp-<key>-*, .old-<key>-*)
// in the kernels directory; a store removes those older than staleAfter.
var staleIn = []string{".tmp-", ".old-"}

const staleAfter = 24 * time.Hour

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
}

func writeMeta(dir string, m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, entryMeta), append(b, '\n'), 0o644)
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

// loadEntry reads the cache entry in dir. It needs a bzImage; meta.json,
// vmlinux and config are optional.
func loadEntry(dir string) (Image, error) {
	img := Image{Key: filepath.Base(dir), Dir: dir, BzImage: filepath.Join(dir, entryBzImage)}
	st, err := os.Stat(img.BzImage)
	if err != nil {
		return Image{}, err
	}
	if !st.Mode().IsRegular() {
		return Image{}, fmt.Errorf("%s is not a regular file", img.BzImage)
	}
	img.Built = st.ModTime()
	if p := filepath.Join(dir, entryVmlinux); exists(p) {
		img.Vmlinux = p
	}
	if p := filepath.Join(dir, entryConfig); exists(p) {
		img.Config = p
	}
	if m, err := readMeta(dir); err == nil {
		if m.Key != "" {
			img.Key = m.Key
		}
		img.Release, img.Source = m.Release, m.Source
		if !m.Built.IsZero() {
			img.Built = m.Built
		}
	}
	return img, nil
}

// completeEntry returns the cache entry in dir when it has every file a
// finished build writes.
func completeEntry(dir string) (Image, bool) {
	for _, f := range []string{entryBzImage, entryVmlinux, entryConfig, entryMeta} {
		if !exists(filepath.Join(dir, f)) {
			return Image{}, false
		}
	}
	if _, err := readMeta(dir); err != nil {
		return Image{}, false
	}
	img, err := loadEntry(dir)
	return img, err == nil
}

// List returns the cached kernels, newest first. Entries without a bzImage
// are skipped; an empty or missing cache is no error.
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

// store copies a finished build from buildDir into kernels/<key>: into a
// temporary directory first, renamed into place when complete, replacing any
// older entry with that key.
func store(kernels, buildDir string, m meta) (Image, error) {
	if err := os.MkdirAll(kernels, 0o755); err != nil {
		return Image{}, err
	}
	hostbuild.RemoveStale(kernels, staleIn, staleAfter)
	tmp, err := os.MkdirTemp(kernels, ".tmp-"+m.Key+"-")
	if err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Image{}, err
	}
	for dst, src := range map[string]string{
		entryBzImage: filepath.Join(buildDir, "arch/x86/boot/bzImage"),
		entryVmlinux: filepath.Join(buildDir, "vmlinux"),
		entryConfig:  filepath.Join(buildDir, ".config"),
	} {
		if err := hostbuild.CopyFile(filepath.Join(tmp, dst), src, 0o644); err != nil {
			return Image{}, err
		}
	}
	if err := writeMeta(tmp, m); err != nil {
		return Image{}, err
	}
	final := filepath.Join(kernels, m.Key)
	if exists(final) {
		old := filepath.Join(kernels, fmt.Sprintf(".old-%s-%d", m.Key, time.Now().UnixNano()))
		if err := os.Rename(final, old); err != nil {
			return Image{}, err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Image{}, err
	}
	return loadEntry(final)
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
