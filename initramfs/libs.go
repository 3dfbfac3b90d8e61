package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/ldd"
)

// maxSymlinks bounds the symlinks followed while resolving one path, as
// Linux does (MAXSYMLINKS).
const maxSymlinks = 40

// item is an entry about to be added.
type item struct {
	name string
	e    *entry
}

// AddBinary adds the file at hostPath as guestPath, like [Builder.AddFile].
// When it is a dynamically linked ELF file (it has a PT_INTERP program
// header), AddBinary also adds its ELF interpreter and every shared library
// the host's dynamic loader loads for it, transitively, at their host paths,
// with the symlinks met on the way (see the package documentation). Static
// binaries, scripts and other files add just the file. The binary itself is
// a plain file at guestPath: symlinks in hostPath are followed, not
// reproduced.
//
// A library the loader does not find is an error. Nothing is added when
// AddBinary fails.
//
// Libraries are looked up as they are for hostPath on the host (including
// LD_LIBRARY_PATH and $ORIGIN run paths); the guest's loader finds them at
// the same paths, except through $ORIGIN when guestPath is not hostPath.
func (b *Builder) AddBinary(guestPath, hostPath string) error {
	items, err := binaryItems(guestPath, hostPath)
	if err != nil {
		return fmt.Errorf("initramfs: add binary %s: %w", guestPath, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.putAll(items); err != nil {
		return fmt.Errorf("initramfs: add binary %s: %w", guestPath, err)
	}
	return nil
}

// binaryItems returns the entries of AddBinary(guestPath, hostPath).
func binaryItems(guestPath, hostPath string) ([]item, error) {
	name, err := normalize(guestPath)
	if err != nil {
		return nil, err
	}
	bin, err := hashHostFile(hostPath)
	if err != nil {
		return nil, err
	}
	items := []item{{name, bin}}
	interp, err := elfInterp(hostPath)
	if err != nil || interp == "" {
		return items, err
	}
	libs, err := ldd.List(hostPath)
	if err != nil {
		return nil, fmt.Errorf("list shared libraries: %s --list %s: %w", interp, hostPath, trimmed{err})
	}
	libs = append(libs, interp)
	slices.Sort(libs)
	libs = slices.Compact(libs)
	for _, lib := range libs {
		// pkg/ldd keeps the third field of "libfoo.so => not found".
		if !filepath.IsAbs(lib) {
			return nil, fmt.Errorf("a shared library was not found by the dynamic loader (%s --list %s shows which)", interp, hostPath)
		}
		chain, err := hostChain(lib)
		if err != nil {
			return nil, fmt.Errorf("shared library %s: %w", lib, err)
		}
		items = append(items, chain...)
	}
	return items, nil
}

// elfInterp returns the PT_INTERP path of the ELF file at hostPath, or ""
// for static ELF files and files that are not ELF.
func elfInterp(hostPath string) (string, error) {
	f, err := os.Open(hostPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var magic [len(elf.ELFMAG)]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return "", nil // scripts, data, empty files
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", fmt.Errorf("read ELF %s: %w", hostPath, err)
	}
	for _, p := range ef.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return "", fmt.Errorf("read PT_INTERP of %s: %w", hostPath, err)
		}
		interp, _, _ := bytes.Cut(data, []byte{0})
		if len(interp) == 0 || interp[0] != '/' {
			return "", fmt.Errorf("%s: PT_INTERP %q is not an absolute path", hostPath, interp)
		}
		return string(interp), nil
	}
	return "", nil
}

// hostChain returns the entries that make the absolute host path p resolve
// in the guest as on the host: one symlink entry, at its physical host path,
// for every symlink met while resolving p component by component, and the
// regular file p finally names.
func hostChain(p string) ([]item, error) {
	var items []item
	links := 0
	cur := "/"
	comps := strings.Split(p, "/")
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return nil, err
		}
		switch mode := fi.Mode(); {
		case mode&os.ModeSymlink != 0:
			if links++; links > maxSymlinks {
				return nil, fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return nil, err
			}
			if target == "" {
				return nil, fmt.Errorf("%s: empty symlink", next)
			}
			items = append(items, item{next[1:], &entry{kind: kindSymlink, perm: 0o777, target: target, size: int64(len(target))}})
			if filepath.IsAbs(target) {
				cur = "/"
			}
			comps = append(strings.Split(target, "/"), comps...)
		case mode.IsDir():
			cur = next
		case mode.IsRegular():
			if slices.ContainsFunc(comps, func(c string) bool { return c != "" && c != "." }) {
				return nil, fmt.Errorf("%s: not a directory", next)
			}
			e, err := hashHostFile(next)
			if err != nil {
				return nil, err
			}
			return append(items, item{next[1:], e}), nil
		default:
			return nil, fmt.Errorf("%s: unsupported file type %v", next, mode.Type())
		}
	}
	return nil, fmt.Errorf("%s: not a regular file", p)
}

// putAll adds all items or, when one conflicts with the builder or with
// another item, none.
func (b *Builder) putAll(items []item) error {
	batch := make(map[string]*entry, len(items))
	var errs []error
	for _, it := range items {
		if old, ok := batch[it.name]; ok {
			if !old.same(it.e) {
				errs = append(errs, fmt.Errorf("/%s: %w: %v vs %v", it.name, ErrConflict, it.e, old))
			}
			continue
		}
		batch[it.name] = it.e
		if old, ok := b.entries[it.name]; ok && !old.same(it.e) {
			errs = append(errs, fmt.Errorf("/%s: %w: %v vs %v", it.name, ErrConflict, it.e, old))
		}
		if perm, ok := b.dirs[it.name]; ok && it.e.kind == kindFile {
			errs = append(errs, fmt.Errorf("/%s: %w: %v vs directory mode %#o", it.name, ErrConflict, it.e, perm))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, it := range items {
		if err := b.put(it.name, it.e); err != nil {
			return err // not reached: checked above
		}
	}
	return nil
}

// trimmed drops the newline pkg/ldd leaves at the end of the loader's
// message.
type trimmed struct{ error }

func (e trimmed) Error() string { return strings.TrimSpace(e.error.Error()) }
func (e trimmed) Unwrap() error { return e.error }
