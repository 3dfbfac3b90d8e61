package initramfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// the host's dynamic loader would load for it, transitively, at their host
// paths, with the symlinks met on the way (see the package documentation).
// Static binaries, scripts and other files add just the file. The binary
// itself is a plain file at guestPath: symlinks in hostPath are followed,
// not reproduced.
//
// The libraries are found by reading the ELF files, as glibc's loader
// searches for them: nothing is executed, neither the binary nor the
// interpreter it names, which is packed as a plain file. A library that is
// not found is an error naming it and the object that needs it. Nothing is
// added when AddBinary fails.
//
// Libraries are looked up as they are for hostPath on the host (including
// the LD_LIBRARY_PATH of this process and $ORIGIN run paths); the guest's
// loader finds them at the same paths, except through the binary's $ORIGIN
// when guestPath is not hostPath with its symlinks resolved.
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
	interp, libs, err := sharedObjects(hostPath)
	if err != nil || interp == "" {
		return items, err
	}
	chain, err := hostChain(interp)
	if err != nil {
		return nil, fmt.Errorf("ELF interpreter %s: %w", interp, err)
	}
	items = append(items, chain...)
	for _, lib := range libs {
		chain, err := hostChain(lib)
		if err != nil {
			return nil, fmt.Errorf("shared library %s: %w", lib, err)
		}
		items = append(items, chain...)
	}
	return items, nil
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
