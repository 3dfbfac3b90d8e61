// Package cachedir locates ktstr's on-disk cache.
//
// The cache root is, in order of precedence:
//
//   - $KTSTR_CACHE_DIR
//   - $XDG_CACHE_HOME/ktstr
//   - $HOME/.cache/ktstr
//
// Built kernels live under Root()/kernels, schedulers under
// Root()/schedulers, initramfs images under Root()/initramfs and kernel
// sources under Root()/src. Nothing in the cache is required to survive: every
// entry point rebuilds what is missing.
package cachedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Root returns the cache root directory. It does not create it.
func Root() (string, error) {
	if d := os.Getenv("KTSTR_CACHE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "ktstr"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cache dir: neither KTSTR_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")
	}
	return filepath.Join(home, ".cache", "ktstr"), nil
}

// Sub returns Root()/name, creating it when create is true.
func Sub(name string, create bool) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, name)
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("cache dir: %w", err)
		}
	}
	return dir, nil
}
