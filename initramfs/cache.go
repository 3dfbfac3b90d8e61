package initramfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
)

// Cached returns the path of the archive in dir, named <hash>.cpio after
// [Builder.Hash], writing it first unless it exists; an existing archive is
// reused as is. An empty dir means the initramfs directory of the ktstr
// cache (see package internal/cachedir); dir is created if needed.
//
// The archive is written to a temporary file in dir, synced and renamed into
// place, so the path never holds a partial archive, and processes building
// the same archive at the same time all succeed.
func (b *Builder) Cached(dir string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dir == "" {
		d, err := cachedir.Sub("initramfs", true)
		if err != nil {
			return "", fmt.Errorf("initramfs: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("initramfs: cache: %w", err)
	}
	l, err := b.layout()
	if err != nil {
		return "", err
	}
	sum := l.hash()
	final := filepath.Join(dir, sum+".cpio")
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
		// The modification time records the last use, for prune.
		now := time.Now()
		_ = os.Chtimes(final, now, now)
		return final, nil
	}
	prune(dir, time.Now())
	if err := writeFileAtomic(final, l); err != nil {
		return "", fmt.Errorf("initramfs: cache %s: %w", final, err)
	}
	return final, nil
}

// Archives unused for maxAge, and temporary files a crashed writer left
// for more than maxTmpAge, are deleted whenever a new archive is written, so
// the cache does not grow without bound as test binaries change.
const (
	maxAge    = 72 * time.Hour
	maxTmpAge = time.Hour
)

func prune(dir string, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		tmp := strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
		if !tmp && !strings.HasSuffix(name, ".cpio") {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if age := now.Sub(fi.ModTime()); (tmp && age > maxTmpAge) || (!tmp && age > maxAge) {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}

// writeFileAtomic writes l's archive to a temporary file next to final and
// renames it to final.
func writeFileAtomic(final string, l *layout) (err error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := l.writeTo(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), final)
}
