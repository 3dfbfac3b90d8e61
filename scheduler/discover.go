package scheduler

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ktstr-go/ktstr/internal/schedbuild"
	"github.com/ktstr-go/ktstr/kernel"
)

// ErrSchedulerNotFound is wrapped by [Binary.Resolve]'s error when
// [Discover] finds no binary of that name.
var ErrSchedulerNotFound = errors.New("scheduler binary not found")

// schedEnvVar names a scheduler binary, or a directory of them.
const schedEnvVar = "KTSTR_SCHEDULER"

// Resolve returns the host path of b's binary. For [EEVDF] it returns "" and
// no error. For [Path] it returns the absolute path of the file, which must
// exist and be executable. For [Discover] it searches, in this order:
//
//  1. $KTSTR_SCHEDULER, when it is a file whose base name is the name, or a
//     directory holding a file of that name;
//  2. the directory of the running executable (the test binary);
//  3. the directories on PATH;
//  4. the scheduler cache (filled by `ktstr sched build`): first the entry of the kernel
//     [kernel.Resolve] returns, then the other entries, newest first.
//
// Only executable regular files match. When none does, the error wraps
// [ErrSchedulerNotFound], lists every place searched and says how to fix it.
func (b Binary) Resolve() (string, error) {
	switch b.kind {
	case eevdf:
		return "", nil
	case path:
		return resolvePath(b.s)
	case discover:
		return search(b.s, hostSearchEnv())
	}
	return "", fmt.Errorf("scheduler: unknown binary kind %d", b.kind)
}

// resolvePath checks a binary given with Path.
func resolvePath(p string) (string, error) {
	if p == "" {
		return "", errors.New("scheduler binary: Path(\"\"): empty path")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("scheduler binary %s: %w", p, err)
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("scheduler binary %s: no such file", abs)
	case err != nil:
		return "", fmt.Errorf("scheduler binary %s: %w", abs, err)
	case st.IsDir():
		return "", fmt.Errorf("scheduler binary %s is a directory, not an executable", abs)
	case !st.Mode().IsRegular():
		return "", fmt.Errorf("scheduler binary %s is not a regular file", abs)
	case st.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("scheduler binary %s is not executable (mode %v)", abs, st.Mode().Perm())
	}
	return abs, nil
}

// searchEnv is everything search looks at.
type searchEnv struct {
	schedEnv string   // value of $KTSTR_SCHEDULER
	exeDir   string   // directory of the running executable, "" if unknown
	path     string   // value of $PATH
	cache    string   // the scheduler cache directory, for messages
	entries  []string // cache entry directories, in search order
	// cacheNote says which entry belongs to the current kernel, or why
	// none does.
	cacheNote string
}

// hostSearchEnv reads the environment, the running executable and the
// scheduler cache.
func hostSearchEnv() searchEnv {
	env := searchEnv{schedEnv: os.Getenv(schedEnvVar), path: os.Getenv("PATH")}
	if exe, err := os.Executable(); err == nil {
		env.exeDir = filepath.Dir(exe)
	}
	cache, err := schedbuild.CacheDir()
	if err != nil {
		env.cacheNote = err.Error()
		return env
	}
	env.cache = cache
	entries, err := schedbuild.ListDir(cache)
	if err != nil {
		env.cacheNote = err.Error()
		return env
	}
	current := ""
	if img, err := kernel.Resolve(); err == nil {
		current = schedbuild.EntryKey(img)
	} else {
		env.cacheNote = "no current kernel: " + firstLine(err.Error())
	}
	env.entries, env.cacheNote = orderEntries(entries, current, env.cacheNote)
	return env
}

// orderEntries puts the entry keyed current first, the others after it in
// their (newest first) order.
func orderEntries(entries []schedbuild.Entry, current, note string) ([]string, string) {
	var dirs []string
	for _, e := range entries {
		if current != "" && e.Key == current {
			dirs = append(dirs, e.Dir)
			note = "the current kernel's entry " + current + " first"
		}
	}
	if current != "" && len(dirs) == 0 {
		note = "no entry for the current kernel " + current
	}
	for _, e := range entries {
		if current == "" || e.Key != current {
			dirs = append(dirs, e.Dir)
		}
	}
	return dirs, note
}

// search looks for the binary called name in env, in Resolve's order.
func search(name string, env searchEnv) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, os.PathSeparator) {
		return "", fmt.Errorf("Discover(%q): not a binary name (use Path for a path)", name)
	}
	var searched []string
	// (a) $KTSTR_SCHEDULER.
	if v := env.schedEnv; v == "" {
		searched = append(searched, "$"+schedEnvVar+" (unset)")
	} else {
		abs, err := filepath.Abs(v)
		if err != nil {
			abs = v
		}
		st, err := os.Stat(abs)
		switch {
		case err != nil:
			searched = append(searched, fmt.Sprintf("$%s=%s (%v)", schedEnvVar, v, errors.Unwrap(err)))
		case st.IsDir():
			p := filepath.Join(abs, name)
			if schedbuild.IsExecutable(p) {
				return p, nil
			}
			searched = append(searched, fmt.Sprintf("$%s=%s (directory: %s)", schedEnvVar, v, absence(p)))
		case filepath.Base(abs) == name:
			if !schedbuild.IsExecutable(abs) {
				return "", fmt.Errorf("%s=%s names %s but it is not an executable file", schedEnvVar, v, name)
			}
			return abs, nil
		default:
			searched = append(searched, fmt.Sprintf("$%s=%s (a file, but not named %s)", schedEnvVar, v, name))
		}
	}
	// (b) the running executable's directory.
	if env.exeDir == "" {
		searched = append(searched, "test binary directory (unknown)")
	} else {
		p := filepath.Join(env.exeDir, name)
		if schedbuild.IsExecutable(p) {
			return p, nil
		}
		searched = append(searched, "test binary directory "+env.exeDir)
	}
	// (c) PATH; relative entries are never used.
	var dirs []string
	for _, d := range filepath.SplitList(env.path) {
		if d == "" || !filepath.IsAbs(d) || slices.Contains(dirs, d) {
			continue
		}
		dirs = append(dirs, d)
		if p := filepath.Join(d, name); schedbuild.IsExecutable(p) {
			return p, nil
		}
	}
	if len(dirs) == 0 {
		searched = append(searched, "PATH (empty)")
	} else {
		searched = append(searched, "PATH "+strings.Join(dirs, string(os.PathListSeparator)))
	}
	// (d) the scheduler cache.
	for _, d := range env.entries {
		if p := filepath.Join(d, name); schedbuild.IsExecutable(p) {
			return p, nil
		}
	}
	cache := "scheduler cache " + env.cache
	if env.cache == "" {
		cache = "scheduler cache"
	}
	switch {
	case len(env.entries) == 0:
		cache += " (no entries"
	default:
		keys := make([]string, len(env.entries))
		for i, d := range env.entries {
			keys[i] = filepath.Base(d)
		}
		cache += " (entries " + strings.Join(keys, ", ")
	}
	if env.cacheNote != "" {
		cache += "; " + env.cacheNote
	}
	searched = append(searched, cache+")")
	return "", fmt.Errorf("%w: %s; searched, in order:\n  %s\n"+
		"fix: build the schedulers with `ktstr sched build` (`go run %s/cmd/ktstr sched build`), "+
		"set %s to the binary or its directory, or give its path with ktstr.Path",
		ErrSchedulerNotFound, name, strings.Join(searched, "\n  "), schedbuild.ModulePath, schedEnvVar)
}

// absence says why p did not match.
func absence(p string) string {
	if _, err := os.Stat(p); err == nil {
		return p + " is not an executable file"
	}
	return "no " + filepath.Base(p)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
