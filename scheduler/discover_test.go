package scheduler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/schedbuild"
)

// writeExec writes a file with the given mode, creating its directory.
func writeTestExec(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSearchOrder(t *testing.T) {
	root := t.TempDir()
	d := func(parts ...string) string { return filepath.Join(append([]string{root}, parts...)...) }
	const name = "scx_x"
	envFile := writeTestExec(t, d("envfile", name), 0o755)
	otherFile := writeTestExec(t, d("envfile", "scx_other"), 0o755)
	noExecFile := writeTestExec(t, d("noexec", name), 0o644)
	envDir := d("envdir")
	writeTestExec(t, d("envdir", name), 0o755)
	emptyDir := d("empty")
	if err := os.MkdirAll(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	exeDir := d("exe")
	writeTestExec(t, d("exe", name), 0o755)
	path1, path2 := d("path1"), d("path2")
	writeTestExec(t, d("path1", name), 0o644) // not executable: skipped
	writeTestExec(t, d("path2", name), 0o755)
	dirOnPath := d("path3")
	if err := os.MkdirAll(filepath.Join(dirOnPath, name), 0o755); err != nil { // a directory named like it
		t.Fatal(err)
	}
	cacheCur, cacheOld := d("cache", "cur"), d("cache", "old")
	writeTestExec(t, filepath.Join(cacheCur, name), 0o755)
	writeTestExec(t, filepath.Join(cacheOld, name), 0o755)
	cacheOnlyOld := d("cache", "old-only")
	writeTestExec(t, filepath.Join(cacheOnlyOld, name), 0o755)
	relDir := "relative-dir-that-must-not-be-used"

	full := searchEnv{
		schedEnv: envFile, exeDir: exeDir, path: path1 + ":" + path2,
		cache: d("cache"), entries: []string{cacheCur, cacheOld},
	}
	with := func(f func(*searchEnv)) searchEnv { e := full; f(&e); return e }

	tests := []struct {
		name    string
		env     searchEnv
		bin     string
		want    string
		wantErr string // substring; "" means success
	}{
		{name: "env file with the name", env: full, bin: name, want: envFile},
		{name: "env directory holding it", env: with(func(e *searchEnv) { e.schedEnv = envDir }), bin: name, want: filepath.Join(envDir, name)},
		{name: "env file of another scheduler falls through to exe dir", env: with(func(e *searchEnv) { e.schedEnv = otherFile }), bin: name, want: filepath.Join(exeDir, name)},
		{name: "env directory without it falls through", env: with(func(e *searchEnv) { e.schedEnv = emptyDir }), bin: name, want: filepath.Join(exeDir, name)},
		{name: "env missing falls through", env: with(func(e *searchEnv) { e.schedEnv = d("nope") }), bin: name, want: filepath.Join(exeDir, name)},
		{name: "env file not executable is an error", env: with(func(e *searchEnv) { e.schedEnv = noExecFile }), bin: name, wantErr: "not an executable file"},
		{name: "exe dir before PATH", env: with(func(e *searchEnv) { e.schedEnv = "" }), bin: name, want: filepath.Join(exeDir, name)},
		{name: "PATH skips non-executable files", env: with(func(e *searchEnv) { e.schedEnv, e.exeDir = "", emptyDir }), bin: name, want: filepath.Join(path2, name)},
		{name: "PATH skips directories and relative entries", env: with(func(e *searchEnv) {
			e.schedEnv, e.exeDir, e.path = "", "", relDir+"::"+dirOnPath+":"+path2
		}), bin: name, want: filepath.Join(path2, name)},
		{name: "cache after PATH, in entry order", env: with(func(e *searchEnv) { e.schedEnv, e.exeDir, e.path = "", "", emptyDir }), bin: name, want: filepath.Join(cacheCur, name)},
		{name: "cache later entry", env: with(func(e *searchEnv) {
			e.schedEnv, e.exeDir, e.path, e.entries = "", "", "", []string{emptyDir, cacheOnlyOld}
		}), bin: name, want: filepath.Join(cacheOnlyOld, name)},
		{name: "not found lists every place", env: with(func(e *searchEnv) {
			e.schedEnv, e.exeDir, e.path = emptyDir, emptyDir, path1
			e.cacheNote = "no entry for the current kernel abc"
		}), bin: "scx_missing", wantErr: "scx_missing"},
		{name: "a path is not a name", env: full, bin: "dir/scx_x", wantErr: "not a binary name"},
		{name: "empty name", env: full, bin: "", wantErr: "not a binary name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := search(tt.bin, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("search(%q) = %q, %v; want error containing %q", tt.bin, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("search(%q) = %q, %v; want %q", tt.bin, got, err, tt.want)
			}
		})
	}
}

func TestSearchNotFoundMessage(t *testing.T) {
	root := t.TempDir()
	exe, p1, p2 := filepath.Join(root, "exe"), filepath.Join(root, "p1"), filepath.Join(root, "p2")
	env := searchEnv{
		schedEnv: filepath.Join(root, "sched-dir"), exeDir: exe, path: p1 + ":" + p2,
		cache: filepath.Join(root, "cache"), entries: []string{filepath.Join(root, "cache", "k1"), filepath.Join(root, "cache", "k2")},
		cacheNote: "the current kernel's entry k1 first",
	}
	_, err := search("scx_simple", env)
	if !errors.Is(err, ErrSchedulerNotFound) {
		t.Fatalf("error %v does not wrap ErrSchedulerNotFound", err)
	}
	msg := err.Error()
	// Every place, in order, then the fixes.
	order := []string{
		"scx_simple", "$KTSTR_SCHEDULER=" + env.schedEnv, "test binary directory " + exe,
		"PATH " + p1 + ":" + p2, "scheduler cache " + env.cache, "entries k1, k2", "k1 first",
		"ktstr sched build", "KTSTR_SCHEDULER", "ktstr.Path",
	}
	at := 0
	for _, s := range order {
		i := strings.Index(msg[at:], s)
		if i < 0 {
			t.Fatalf("message lacks %q after offset %d:\n%s", s, at, msg)
		}
		at += i + len(s)
	}

	_, err = search("scx_simple", searchEnv{})
	for _, s := range []string{"$KTSTR_SCHEDULER (unset)", "test binary directory (unknown)", "PATH (empty)", "scheduler cache (no entries)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("empty env: message lacks %q:\n%v", s, err)
		}
	}
}

func TestOrderEntries(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := []schedbuild.Entry{ // newest first, as listEntries returns them
		{Key: "new", Dir: "/c/new", Built: t0.Add(2 * time.Hour)},
		{Key: "mid", Dir: "/c/mid", Built: t0.Add(time.Hour)},
		{Key: "old", Dir: "/c/old", Built: t0},
	}
	for _, tt := range []struct {
		current, note string
		want          []string
		wantNote      string
	}{
		{current: "old", want: []string{"/c/old", "/c/new", "/c/mid"}, wantNote: "entry old first"},
		{current: "new", want: []string{"/c/new", "/c/mid", "/c/old"}, wantNote: "entry new first"},
		{current: "gone", want: []string{"/c/new", "/c/mid", "/c/old"}, wantNote: "no entry for the current kernel gone"},
		{current: "", note: "no current kernel: x", want: []string{"/c/new", "/c/mid", "/c/old"}, wantNote: "no current kernel: x"},
	} {
		got, note := orderEntries(entries, tt.current, tt.note)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") || !strings.Contains(note, tt.wantNote) {
			t.Errorf("orderEntries(current=%q) = %v, %q; want %v, %q", tt.current, got, note, tt.want, tt.wantNote)
		}
	}
}

func TestResolvePathAndEEVDF(t *testing.T) {
	dir := t.TempDir()
	exe := writeTestExec(t, filepath.Join(dir, "sched"), 0o755)
	noexec := writeTestExec(t, filepath.Join(dir, "plain"), 0o644)
	if p, err := EEVDF.Resolve(); p != "" || err != nil {
		t.Errorf("EEVDF.Resolve() = %q, %v", p, err)
	}
	if p, err := Path(exe).Resolve(); p != exe || err != nil {
		t.Errorf("Path(exe).Resolve() = %q, %v", p, err)
	}
	t.Chdir(dir)
	if p, err := Path("sched").Resolve(); p != exe || err != nil {
		t.Errorf("relative Path.Resolve() = %q, %v; want %q", p, err, exe)
	}
	for _, tt := range []struct{ p, want string }{
		{filepath.Join(dir, "missing"), "missing: no such file"},
		{dir, "is a directory"},
		{noexec, "plain is not executable"},
		{"", "empty path"},
	} {
		if _, err := Path(tt.p).Resolve(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Path(%q).Resolve() error %v; want it to contain %q", tt.p, err, tt.want)
		}
	}
}

// TestDiscoverHost runs Discover through the real environment: the
// variable, PATH and a scheduler cache whose current kernel comes from a fake
// kernel cache.
func TestDiscoverHost(t *testing.T) {
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	t.Setenv("KTSTR_KERNEL", "")
	t.Setenv("PATH", filepath.Join(root, "bin"))
	t.Setenv("KTSTR_SCHEDULER", "")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Two kernels; the older one is the current kernel through KTSTR_KERNEL.
	fakeKernelEntry(t, root, "aaaa000000000001", t0)
	fakeKernelEntry(t, root, "aaaa000000000002", t0.Add(time.Hour))
	cache := filepath.Join(root, "schedulers")
	for i, key := range []string{"aaaa000000000001", "aaaa000000000002"} {
		writeTestExec(t, filepath.Join(cache, key, "scx_simple"), 0o755)
		meta := fmt.Sprintf(`{"kernel_key":%q,"schedulers":["scx_simple"],"built":%q}`, key, t0.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
		if err := os.WriteFile(filepath.Join(cache, key, "meta.json"), []byte(meta), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Discover("scx_simple").Resolve()
	if want := filepath.Join(cache, "aaaa000000000002", "scx_simple"); got != want || err != nil {
		t.Fatalf("newest kernel: Resolve() = %q, %v; want %q", got, err, want)
	}
	t.Setenv("KTSTR_KERNEL", "aaaa000000000001")
	got, err = Discover("scx_simple").Resolve()
	if want := filepath.Join(cache, "aaaa000000000001", "scx_simple"); got != want || err != nil {
		t.Fatalf("KTSTR_KERNEL's entry first: Resolve() = %q, %v; want %q", got, err, want)
	}
	onPath := writeTestExec(t, filepath.Join(root, "bin", "scx_simple"), 0o755)
	if got, err := Discover("scx_simple").Resolve(); got != onPath || err != nil {
		t.Fatalf("PATH before cache: Resolve() = %q, %v; want %q", got, err, onPath)
	}
	env := writeTestExec(t, filepath.Join(root, "env", "scx_simple"), 0o755)
	t.Setenv("KTSTR_SCHEDULER", env)
	if got, err := Discover("scx_simple").Resolve(); got != env || err != nil {
		t.Fatalf("KTSTR_SCHEDULER first: Resolve() = %q, %v; want %q", got, err, env)
	}
	_, err = Discover("scx_nothing").Resolve()
	if !errors.Is(err, ErrSchedulerNotFound) || !strings.Contains(err.Error(), "entry aaaa000000000001 first") {
		t.Fatalf("Resolve() error = %v; want ErrSchedulerNotFound naming the current entry", err)
	}
}

// fakeKernel writes a kernel cache entry that kernel.List accepts.
func fakeKernelEntry(t *testing.T, root, key string, built time.Time) {
	t.Helper()
	dir := filepath.Join(root, "kernels", key)
	bz := make([]byte, 0x400) // passes for a bzImage: "HdrS" at 0x202
	copy(bz[0x202:], "HdrS")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bzImage"), bz, 0o644); err != nil {
		t.Fatal(err)
	}
	meta := `{"key":"` + key + `","release":"6.12.117","built":"` + built.Format(time.RFC3339) + `"}`
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}
