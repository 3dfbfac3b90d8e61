package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ErrNoKernel is wrapped by [Resolve]'s error when KTSTR_KERNEL is unset and
// the cache holds no kernel it can use: none at all, or none built by the
// current recipe with intact files (the error then also wraps
// [ErrStaleKernel] and/or [ErrCorruptKernel]).
var ErrNoKernel = errors.New("no kernel found")

// ErrStaleKernel is wrapped, with [ErrNoKernel], by [Resolve]'s error when
// KTSTR_KERNEL is unset and the cache holds kernels, but only ones built by
// another recipe (older build steps, another fragment or other patches).
var ErrStaleKernel = errors.New("only stale kernels in the cache")

// ErrCorruptKernel is wrapped by [Resolve]'s error when the kernel
// KTSTR_KERNEL names is a cache entry whose files do not match its
// meta.json, and, with [ErrNoKernel], when KTSTR_KERNEL is unset and every
// cache entry of the current recipe is corrupt.
var ErrCorruptKernel = errors.New("corrupt kernel cache entry")

// buildCommand is the command that builds and caches a kernel.
const buildCommand = "go run github.com/ktstr-go/ktstr/cmd/ktstr kernel build"

var keyRe = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// Resolve returns the kernel to boot. When $KTSTR_KERNEL is set it names the
// kernel: a kernel image file (bzImage or vmlinux; vmlinux and config or
// .config beside it are used when present), a directory (a cache entry, or a
// kernel build directory with arch/x86/boot/bzImage), or a cache key or a
// unique prefix of one. A cache entry named so is returned even when it is
// stale (Image.Stale says why), but not when it is corrupt (the error wraps
// [ErrCorruptKernel]).
//
// Otherwise it is the newest cache entry built by the current recipe (the
// recipe version, fragment and patch set of this ktstr; see [Image.Current])
// whose files are intact: corrupt newer ones are passed over and listed in
// Image.Skipped. With none, the error wraps [ErrNoKernel] (and
// [ErrStaleKernel] or [ErrCorruptKernel] when the cache holds kernels that
// do not qualify, which it lists) and says how to build one.
//
// An entry's files are checked against its meta.json on every call: sizes,
// the sha256 of bzImage and config, the ELF header of vmlinux (not its
// hash: it is about 200 MB).
//
// KTSTR_KERNEL may name several kernels separated by commas (see
// [ResolveAll]); Resolve returns the first.
func Resolve() (Image, error) {
	if env := os.Getenv("KTSTR_KERNEL"); env != "" {
		spec, _, _ := strings.Cut(env, ",")
		img, err := resolveSpec(strings.TrimSpace(spec))
		if err != nil {
			return Image{}, fmt.Errorf("KTSTR_KERNEL=%s: %w", spec, err)
		}
		return img, nil
	}
	imgs, err := List()
	if err != nil {
		return Image{}, err
	}
	dir, _ := kernelsDir(false)
	if len(imgs) == 0 {
		return Image{}, fmt.Errorf("%w in %s: build one with `%s` (or `ktstr kernel build` when installed), "+
			"or set KTSTR_KERNEL to a bzImage, a kernel build directory or a cache key", ErrNoKernel, dir, buildCommand)
	}
	var skipped, stale, corrupt []string
	for _, img := range imgs {
		switch {
		case img.Current():
			img.Skipped = skipped
			return img, nil
		case img.Stale != "":
			line := fmt.Sprintf("%s (%s, built %s): %s", img.Key, img.Release, img.Built.Local().Format(time.DateTime), img.Stale)
			if img.Corrupt != "" {
				line += "; also corrupt: " + img.Corrupt
			}
			stale = append(stale, line)
		default:
			skipped = append(skipped, img.Key+": "+img.Corrupt)
			corrupt = append(corrupt, fmt.Sprintf("%s (%s, built %s): %s", img.Key, img.Release, img.Built.Local().Format(time.DateTime), img.Corrupt))
		}
	}
	var b strings.Builder
	for _, l := range stale {
		b.WriteString("\n  stale: " + l)
	}
	for _, l := range corrupt {
		b.WriteString("\n  corrupt: " + l)
	}
	why := fmt.Errorf("%w", ErrStaleKernel)
	switch {
	case len(corrupt) > 0 && len(stale) > 0:
		why = fmt.Errorf("%w, %w", ErrStaleKernel, ErrCorruptKernel)
	case len(corrupt) > 0:
		why = fmt.Errorf("%w", ErrCorruptKernel)
	}
	anyway := ""
	if len(stale) > 0 {
		anyway = ", or set KTSTR_KERNEL to a stale entry's key to use it anyway"
	}
	return Image{}, fmt.Errorf("%w: %w: %s holds no intact kernel built by the current recipe (%s, this ktstr's fragment and patches); "+
		"build it with `%s` (or `ktstr kernel build` when installed)%s:%s",
		ErrNoKernel, why, dir, recipeVersion, buildCommand, anyway, b.String())
}

// ResolveAll returns every kernel KTSTR_KERNEL names, separated by commas
// (the gauntlet runs each variant on each of them), or Resolve's one
// kernel. Each element is resolved as Resolve resolves a single one; the
// same kernel named twice is an error.
func ResolveAll() ([]Image, error) {
	env := os.Getenv("KTSTR_KERNEL")
	if !strings.Contains(env, ",") {
		img, err := Resolve()
		if err != nil {
			return nil, err
		}
		return []Image{img}, nil
	}
	var imgs []Image
	seen := map[string]string{}
	for _, spec := range strings.Split(env, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			return nil, fmt.Errorf("KTSTR_KERNEL=%s: an empty element in the list", env)
		}
		img, err := resolveSpec(spec)
		if err != nil {
			return nil, fmt.Errorf("KTSTR_KERNEL=%s: %s: %w", env, spec, err)
		}
		if other, dup := seen[img.BzImage]; dup {
			return nil, fmt.Errorf("KTSTR_KERNEL=%s: %s and %s are the same kernel (%s)", env, other, spec, img.BzImage)
		}
		seen[img.BzImage] = spec
		imgs = append(imgs, img)
	}
	return imgs, nil
}

// Label names img in test names and output: its release, with the first
// digits of its cache key when it has one ("6.12.117-5e5df0cd"), else its
// file's base name.
func (img Image) Label() string {
	l := img.Release
	if l == "" {
		l = filepath.Base(img.BzImage)
	}
	if img.Key != "" {
		l += "-" + img.Key[:min(8, len(img.Key))]
	}
	return l
}

// resolveSpec interprets a KTSTR_KERNEL value.
func resolveSpec(spec string) (Image, error) {
	path := spec
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, rest)
		}
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return dirImage(path)
	case err == nil:
		return fileImage(path)
	case !errors.Is(err, fs.ErrNotExist):
		return Image{}, err
	case keyRe.MatchString(spec):
		return keyImage(spec)
	default:
		return Image{}, fmt.Errorf("no such file or directory, and not a cache key")
	}
}

// keyImage finds the cache entry whose key is or starts with prefix.
func keyImage(prefix string) (Image, error) {
	imgs, err := List()
	if err != nil {
		return Image{}, err
	}
	var found []Image
	for _, img := range imgs {
		if strings.HasPrefix(img.Key, prefix) {
			found = append(found, img)
		}
	}
	dir, _ := kernelsDir(false)
	switch len(found) {
	case 0:
		return Image{}, fmt.Errorf("no such file or directory, and no cached kernel has a key starting with %q in %s", prefix, dir)
	case 1:
		return usableEntry(found[0])
	}
	keys := make([]string, len(found))
	for i, img := range found {
		keys[i] = img.Key
	}
	return Image{}, fmt.Errorf("ambiguous cache key prefix %q: matches %s", prefix, strings.Join(keys, ", "))
}

// usableEntry returns the cache entry img that KTSTR_KERNEL names, unless it
// is corrupt.
func usableEntry(img Image) (Image, error) {
	if img.Corrupt != "" {
		return Image{}, fmt.Errorf("%w %s: %s", ErrCorruptKernel, img.Dir, img.Corrupt)
	}
	return img, nil
}

// dirImage reads a cache entry or a kernel build directory.
func dirImage(dir string) (Image, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Image{}, err
	}
	if exists(filepath.Join(dir, entryMeta)) {
		img, err := loadEntry(dir)
		if err != nil {
			return Image{}, err
		}
		return usableEntry(img)
	}
	if exists(filepath.Join(dir, entryBzImage)) {
		// Laid out like a cache entry, without meta.json: a loose kernel.
		img, err := loadEntry(dir)
		if err != nil {
			return Image{}, err
		}
		if err := checkImage(img.BzImage); err != nil {
			return Image{}, err
		}
		img.Key, img.Corrupt, img.Stale = "", "", ""
		img.Source = "directory " + dir
		return img, nil
	}
	if exists(filepath.Join(dir, "arch/x86/boot/bzImage")) {
		return buildDirImage(dir)
	}
	return Image{}, fmt.Errorf("directory holds neither bzImage (a ktstr cache entry) " +
		"nor arch/x86/boot/bzImage (a kernel build directory)")
}

// buildDirImage describes the kernel in a kernel build directory.
func buildDirImage(dir string) (Image, error) {
	img := Image{Dir: dir, BzImage: filepath.Join(dir, "arch/x86/boot/bzImage"), Source: "build directory " + dir}
	st, err := os.Stat(img.BzImage)
	if err != nil {
		return Image{}, err
	}
	if err := checkImage(img.BzImage); err != nil {
		return Image{}, err
	}
	img.Built = st.ModTime()
	if p := filepath.Join(dir, "vmlinux"); exists(p) {
		img.Vmlinux = p
	}
	if p := filepath.Join(dir, ".config"); exists(p) {
		img.Config = p
	}
	if b, err := os.ReadFile(filepath.Join(dir, "include/config/kernel.release")); err == nil {
		img.Release = strings.TrimSpace(string(b))
	} else {
		img.Release = bzImageRelease(img.BzImage)
	}
	return img, nil
}

// fileImage describes a kernel image file given by path.
func fileImage(path string) (Image, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return Image{}, err
	}
	if strings.HasSuffix(path, "/arch/x86/boot/bzImage") {
		return buildDirImage(strings.TrimSuffix(path, "/arch/x86/boot/bzImage"))
	}
	dir := filepath.Dir(path)
	if filepath.Base(path) == entryBzImage && exists(filepath.Join(dir, entryMeta)) {
		return dirImage(dir)
	}
	if err := checkImage(path); err != nil {
		return Image{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Image{}, err
	}
	img := Image{Dir: dir, BzImage: path, Built: st.ModTime(), Source: "file " + path}
	if isELF(path) {
		img.Vmlinux = path
	} else {
		img.Release = bzImageRelease(path)
		if p := filepath.Join(dir, "vmlinux"); exists(p) {
			img.Vmlinux = p
		}
	}
	for _, name := range []string{"config", ".config"} {
		if p := filepath.Join(dir, name); exists(p) {
			img.Config = p
			break
		}
	}
	return img, nil
}

// readHead returns up to n bytes from the start of path.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:m], nil
}

// checkImage fails unless path looks like a bzImage or an ELF kernel.
func checkImage(path string) error {
	head, err := readHead(path, 0x210)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(head, []byte("\x7fELF")) || (len(head) >= 0x206 && string(head[0x202:0x206]) == "HdrS") {
		return nil
	}
	return fmt.Errorf("%s is not a kernel image (neither a bzImage nor an ELF vmlinux)", path)
}

func isELF(path string) bool {
	head, err := readHead(path, 4)
	return err == nil && bytes.Equal(head, []byte("\x7fELF"))
}

// bzImageRelease reads the release from a bzImage's kernel_version string
// (boot protocol 2.00+), or returns "".
func bzImageRelease(path string) string {
	head, err := readHead(path, 0x210)
	if err != nil || len(head) < 0x210 || string(head[0x202:0x206]) != "HdrS" {
		return ""
	}
	off := int64(binary.LittleEndian.Uint16(head[0x20e:])) + 0x200
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off)
	s, _, _ := strings.Cut(string(buf[:n]), "\x00")
	release, _, _ := strings.Cut(s, " ")
	return release
}
