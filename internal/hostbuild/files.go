package hostbuild

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CopyFile copies src to a new file dst (which must not exist) created with
// mode (less the umask) and syncs it.
func CopyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WriteFileAtomic writes data to a temporary file beside path, created with
// mode, and renames it to path.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// RemoveStale deletes the files and directories directly in dir whose names
// start with one of prefixes and that were last modified more than age ago:
// what interrupted stores left behind. Errors are ignored.
func RemoveStale(dir string, prefixes []string, age time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		stale := false
		for _, p := range prefixes {
			stale = stale || strings.HasPrefix(n, p)
		}
		if !stale {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			os.RemoveAll(filepath.Join(dir, n))
		}
	}
}
