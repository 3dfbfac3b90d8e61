package initramfs

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/u-root/u-root/pkg/cpio"
)

// resolve follows the symlinks of the archive listed in entries to the
// entry p names.
func resolve(entries map[string]Entry, p string) (Entry, error) {
	links := 0
	cur := ""
	comps := strings.Split(p, "/")
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			if cur == "." {
				cur = ""
			}
			continue
		}
		cur = path.Join(cur, c)
		e, ok := entries[cur]
		if !ok {
			return Entry{}, fmt.Errorf("%s: /%s is not in the archive", p, cur)
		}
		if e.Mode.Type() == os.ModeSymlink {
			if links++; links > maxSymlinks {
				return Entry{}, fmt.Errorf("%s: symlink loop", p)
			}
			cur = path.Dir(cur)
			if strings.HasPrefix(e.Link, "/") || cur == "." {
				cur = ""
			}
			comps = append(strings.Split(e.Link, "/"), comps...)
			continue
		}
		if len(comps) == 0 {
			return e, nil
		}
		if !e.Mode.IsDir() {
			return Entry{}, fmt.Errorf("%s: /%s is not a directory", p, cur)
		}
	}
	return Entry{}, fmt.Errorf("%s: resolves to the root", p)
}

// checkArchive checks the invariants of a listed archive: each record's
// parent is a directory record before it, and names are unique.
func checkArchive(t *testing.T, entries []Entry) map[string]Entry {
	t.Helper()
	byName := make(map[string]Entry, len(entries))
	for _, e := range entries {
		if _, dup := byName[e.Name]; dup {
			t.Errorf("%s: duplicate record", e.Name)
		}
		if parent := path.Dir(e.Name); parent != "." {
			if p, ok := byName[parent]; !ok || !p.Mode.IsDir() {
				t.Errorf("%s: parent %s is not a directory record before it (%v)", e.Name, parent, p.Mode)
			}
		}
		byName[e.Name] = e
	}
	return byName
}

func TestAddBinaryDynamic(t *testing.T) {
	for _, bin := range []string{"/bin/ls", "/usr/bin/qemu-system-x86_64"} {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			ef, err := elf.Open(bin)
			if err != nil {
				t.Skipf("no dynamic host binary to test with: %v", err)
			}
			defer ef.Close()
			interp := ""
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					data, err := io.ReadAll(p.Open())
					if err != nil {
						t.Fatal(err)
					}
					interp = strings.TrimRight(string(data), "\x00")
				}
			}
			if interp == "" {
				t.Skipf("%s is not dynamically linked", bin)
			}
			needed, err := ef.ImportedLibraries()
			if err != nil {
				t.Fatal(err)
			}

			b := New()
			if err := b.AddBinary("/bin/prog", bin); err != nil {
				t.Fatal(err)
			}
			entries := checkArchive(t, list(t, b))

			if e := entries["bin/prog"]; !e.Mode.IsRegular() || e.Mode.Perm()&0o111 == 0 {
				t.Errorf("bin/prog: %v, want an executable file", e)
			}
			// The interpreter resolves, through the host's symlinks, to a
			// copy of the host's.
			e, err := resolve(entries, interp)
			if err != nil {
				t.Fatalf("interpreter: %v", err)
			}
			host, err := os.Stat(interp)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Mode.IsRegular() || e.Size != host.Size() {
				t.Errorf("%s resolves to %+v, want a regular file of %d bytes", interp, e, host.Size())
			}
			// Every DT_NEEDED library, libc among them, is in the archive
			// under its soname and resolves to a regular file.
			sonames := map[string]bool{}
			for name := range entries {
				base := path.Base(name)
				if e, err := resolve(entries, name); err == nil && e.Mode.IsRegular() {
					sonames[base] = true
				}
			}
			if !sonames["libc.so.6"] {
				t.Error("libc.so.6 is not in the archive")
			}
			for _, lib := range needed {
				if !sonames[lib] {
					t.Errorf("DT_NEEDED %s is not in the archive", lib)
				}
			}
			// The host's symlinks are symlink records with the host's targets.
			for name, e := range entries {
				if e.Mode.Type() != os.ModeSymlink {
					continue
				}
				if target, err := os.Readlink("/" + name); err != nil || target != e.Link {
					t.Errorf("symlink record %s -> %s, host has %q (%v)", name, e.Link, target, err)
				}
			}
		})
	}
}

// buildStatic builds a static Go program and returns its path.
func buildStatic(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			t.Skipf("no go command to build a static binary: %v", err)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"static\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "static")
	cmd := exec.Command(goBin, "build", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

func TestAddBinarySingleFile(t *testing.T) {
	script := hostFile(t, "#!/bin/sh\necho hi\n", 0o755)
	tests := []struct {
		name string
		host func(t *testing.T) string
	}{
		{"static Go binary", buildStatic},
		{"busybox-static", func(t *testing.T) string {
			ef, err := elf.Open("/bin/busybox")
			if err != nil {
				t.Skipf("no busybox: %v", err)
			}
			defer ef.Close()
			for _, p := range ef.Progs {
				if p.Type == elf.PT_INTERP {
					t.Skip("/bin/busybox is dynamically linked")
				}
			}
			return "/bin/busybox"
		}},
		{"script", func(*testing.T) string { return script }},
		{"empty file", func(t *testing.T) string { return hostFile(t, "", 0o755) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.host(t)
			fi, err := os.Stat(host)
			if err != nil {
				t.Fatal(err)
			}
			b := New()
			if err := b.AddBinary("/init", host); err != nil {
				t.Fatal(err)
			}
			want := []Entry{fileEntry("init", fi.Mode().Perm(), fi.Size())}
			if diff := cmp.Diff(want, list(t, b)); diff != "" {
				t.Errorf("List mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddBinaryMissingLibrary(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build a binary with a missing library")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(cc, args...)
		cmd.Dir = dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("cc %v: %v\n%s", args, err, msg)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lib.c"), []byte("int f(void) { return 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.c"), []byte("int f(void);\nint main(void) { return f(); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("-shared", "-fPIC", "-o", "libktstrmissing.so", "lib.c")
	run("-o", "prog", "main.c", "-L.", "-lktstrmissing")
	if err := os.Remove(filepath.Join(dir, "libktstrmissing.so")); err != nil {
		t.Fatal(err)
	}
	b := New()
	err = b.AddBinary("/prog", filepath.Join(dir, "prog"))
	// ld.so --list fails; an ldd-style "=> not found" line is an error too.
	if err == nil || !strings.Contains(err.Error(), "libktstrmissing.so") || strings.HasSuffix(err.Error(), "\n") {
		t.Fatalf("AddBinary error %v, want a library not found", err)
	}
	if got, want := mustHash(t, b), mustHash(t, New()); got != want {
		t.Error("a failed AddBinary added entries")
	}
}

func TestAddBinaryConflictAddsNothing(t *testing.T) {
	libc, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Skipf("no host libc at the Debian path: %v", err)
	}
	b := New()
	b.AddBytes(libc, []byte("not libc"), 0o755)
	before := mustHash(t, b)
	err = b.AddBinary("/bin/ls", "/bin/ls")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), libc) {
		t.Fatalf("AddBinary error %v, want a conflict at %s", err, libc)
	}
	if mustHash(t, b) != before {
		t.Error("a failed AddBinary added entries")
	}
}

func mustHash(t *testing.T, b *Builder) string {
	t.Helper()
	h, err := b.Hash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHostChain(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := root[1:] // archive names have no leading slash
	mk := func(p string) string { return filepath.Join(root, p) }
	for _, d := range []string{"usr/lib", "usr/lib64"} {
		if err := os.MkdirAll(mk(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(mk("usr/lib/real.so"), []byte("elf"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"lib":               "usr/lib",
		"lib64":             mk("usr/lib64"),
		"usr/lib64/ld.so":   "../../lib/./libx.so.1",
		"usr/lib/libx.so.1": "real.so",
		"loop1":             "loop2",
		"loop2":             "loop1",
		"dangling":          "nowhere",
	} {
		if err := os.Symlink(target, mk(name)); err != nil {
			t.Fatal(err)
		}
	}
	sym := func(name, target string) item {
		return item{name, &entry{kind: kindSymlink, perm: 0o777, target: target, size: int64(len(target))}}
	}
	cmpEntry := cmp.Comparer(func(a, b *entry) bool { return a.same(b) && a.host == b.host })

	got, err := hostChain(mk("lib64/ld.so"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := hashHostFile(mk("usr/lib/real.so"))
	if err != nil {
		t.Fatal(err)
	}
	want := []item{
		sym(r+"/lib64", mk("usr/lib64")),
		sym(r+"/usr/lib64/ld.so", "../../lib/./libx.so.1"),
		sym(r+"/lib", "usr/lib"),
		sym(r+"/usr/lib/libx.so.1", "real.so"),
		{r + "/usr/lib/real.so", real},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(item{}), cmpEntry); diff != "" {
		t.Errorf("hostChain mismatch (-want +got):\n%s", diff)
	}

	for _, tt := range []struct{ path, want string }{
		{"loop1", "too many levels of symbolic links"},
		{"dangling", "no such file or directory"},
		{"usr/lib", "not a regular file"},
		{"usr/lib/real.so/x", "not a directory"},
	} {
		if _, err := hostChain(mk(tt.path)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("hostChain(%s) error %v, want %q", tt.path, err, tt.want)
		}
	}
}

// extract unpacks archive into dir like the kernel does, refusing records
// below symlinks, so that nothing is written outside dir.
func extract(t *testing.T, archive []byte, dir string) {
	t.Helper()
	dirs := map[string]bool{".": true}
	err := cpio.ForEachRecord(cpio.Newc.Reader(bytes.NewReader(archive)), func(r cpio.Record) error {
		if !dirs[path.Dir(r.Name)] {
			return fmt.Errorf("%s: parent is not a directory record before it", r.Name)
		}
		p := filepath.Join(dir, r.Name)
		perm := fileMode(r.Mode)
		switch perm.Type() {
		case os.ModeDir:
			dirs[r.Name] = true
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			return os.Chmod(p, perm)
		case os.ModeSymlink:
			target, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.FileSize)))
			if err != nil {
				return err
			}
			return os.Symlink(string(target), p)
		case 0:
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(f, io.NewSectionReader(r, 0, int64(r.FileSize))); err != nil {
				return err
			}
			if err := f.Chmod(perm); err != nil {
				return err
			}
			return f.Close()
		}
		return fmt.Errorf("%s: unexpected mode %v", r.Name, perm)
	})
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
}

func TestChrootRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	b := New()
	if err := b.AddBinary("/bin/ls", "/bin/ls"); err != nil {
		t.Fatal(err)
	}
	b.AddDir("/tmp", os.ModeSticky|0o777)
	root := t.TempDir()
	extract(t, archive(t, b), root)

	cmd := exec.Command("/bin/ls", "-la", "/", "/lib64/")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s /bin/ls: %v\n%s", root, err, out)
	}
	for _, want := range []string{"bin", "usr", "tmp"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ls / in the chroot lists no %s:\n%s", want, out)
		}
	}
	t.Logf("ls in the chroot:\n%s", out)
}
