package hostbuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// StoreStaleAfter is how old a temporary directory left in a cache by an
// interrupted [StoreDir] (.tmp-<name>-*, .old-<name>-*) must be before a
// later StoreDir in the same parent removes it.
const StoreStaleAfter = 24 * time.Hour

// storePrefixes are the names of StoreDir's temporary directories.
var storePrefixes = []string{".tmp-", ".old-"}

// StoreDir atomically creates or replaces the directory parent/name. It
// creates parent when missing, removes temporary directories that earlier,
// interrupted StoreDir calls left in parent (see [StoreStaleAfter]), makes a
// new temporary directory parent/.tmp-<name>-* (mode 0755) and calls fill
// with its path. When fill succeeds, every file in the directory and the
// directory itself are fsynced, and the directory is renamed to parent/name:
// swapped with an older entry in one renameat2(RENAME_EXCHANGE) where the
// file system supports it (else the old entry is first renamed to
// parent/.old-<name>-*), the old entry is then removed, and parent is
// fsynced. Readers of parent/name therefore see either the old entry or the
// complete new one, never a partial one. When fill or any step fails,
// nothing is left behind and an old entry stays as it was. It returns
// parent/name.
//
// Callers serialise StoreDir calls for the same name themselves (two
// concurrent calls both succeed; the last rename wins).
func StoreDir(parent, name string, fill func(tmp string) error) (final string, err error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return "", fmt.Errorf("store %q in %s: not a plain directory name", name, parent)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	RemoveStale(parent, storePrefixes, StoreStaleAfter)
	tmp, err := os.MkdirTemp(parent, ".tmp-"+name+"-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := fill(tmp); err != nil {
		return "", err
	}
	if err := syncTree(tmp); err != nil {
		return "", fmt.Errorf("store %s: sync: %w", name, err)
	}
	final = filepath.Join(parent, name)
	if err := replaceDir(parent, tmp, final, name); err != nil {
		return "", fmt.Errorf("store %s: %w", name, err)
	}
	if err := syncDir(parent); err != nil {
		return "", fmt.Errorf("store %s: sync %s: %w", name, parent, err)
	}
	return final, nil
}

// replaceDir moves the directory tmp to final, replacing what final holds.
func replaceDir(parent, tmp, final, name string) error {
	if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, final)
	}
	// Swap in one step: final is never missing. tmp then holds the old
	// entry, which the deferred cleanup in StoreDir must not mistake for a
	// failure, so it is removed here.
	// When removing it fails, RemoveStale gets it later.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE); err == nil {
		os.RemoveAll(tmp)
		return nil
	} else if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("exchange %s with %s: %w", tmp, final, err)
	}
	return replaceDirRenames(parent, tmp, final, name)
}

// replaceDirRenames replaces the directory final with tmp in two renames
// (final is briefly missing), putting final back when the second fails.
func replaceDirRenames(parent, tmp, final, name string) error {
	old := filepath.Join(parent, fmt.Sprintf(".old-%s-%d", name, time.Now().UnixNano()))
	if err := os.Rename(final, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		// Put the old entry back.
		if rerr := os.Rename(old, final); rerr != nil {
			return fmt.Errorf("%w (and restoring the old entry from %s: %v)", err, old, rerr)
		}
		return err
	}
	os.RemoveAll(old)
	return nil
}

// syncTree fsyncs every regular file and directory under dir.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Type().IsRegular() {
			return syncPath(p)
		}
		return nil
	})
}

// syncDir fsyncs the directory dir.
func syncDir(dir string) error { return syncPath(dir) }

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
