package initramfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
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

// cCompiler returns the host's C compiler. Without one the test is skipped,
// or fails under CI=true, where gcc must be installed.
func cCompiler(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"gcc", "cc"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no C compiler (gcc or cc) on PATH, which CI must have")
	}
	t.Skip("no C compiler (gcc or cc) on PATH to build test binaries")
	return ""
}

// cBuild compiles the C source src into out, creating its directory, with
// the extra compiler and linker args.
func cBuild(t *testing.T, cc, out, src string, args ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(t.TempDir(), "src.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cc, append([]string{"-o", out, c}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s -o %s %v: %v\n%s", cc, out, args, err, msg)
		}
		t.Skipf("%s cannot build test binaries: -o %s %v: %v\n%s", cc, out, args, err, msg)
	}
}

// C sources of the test programs and libraries: main calls a, a (in
// libktstra) calls b (in libktstrb).
const (
	mainSrc  = "int a(void);\nint main(void) { return a(); }\n"
	libASrc  = "int a(void) { return 1; }\n"
	libABSrc = "int b(void);\nint a(void) { return b(); }\n"
	libBSrc  = "int b(void) { return 2; }\n"
)

// buildLib builds a shared library with the soname base(out), unless
// args set one.
func buildLib(t *testing.T, cc, out, src string, args ...string) {
	t.Helper()
	cBuild(t, cc, out, src, append([]string{"-shared", "-fPIC", "-Wl,-soname," + filepath.Base(out)}, args...)...)
}

// realPath resolves the symlinks of p.
func realPath(t *testing.T, p string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// resolvedFiles returns the interpreter and libraries sharedObjects finds
// for bin, symlinks resolved, sorted.
func resolvedFiles(t *testing.T, bin string) ([]string, error) {
	t.Helper()
	interp, libs, err := sharedObjects(bin)
	if err != nil {
		return nil, err
	}
	if interp == "" {
		t.Fatalf("%s: no PT_INTERP", bin)
	}
	files := []string{realPath(t, interp)}
	for _, lib := range libs {
		files = append(files, realPath(t, lib))
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// hostLdd returns the files the host's ldd lists for bin, symlinks
// resolved and sorted, and the names it reports "not found"; err is the
// loader's message when it fails. ldd runs the host's own loader, not
// bin's PT_INTERP, but that loader runs code of the libraries it loads:
// only system programs and programs the tests built with the host's
// interpreter are passed to it.
func hostLdd(t *testing.T, bin string) (files, missing []string, err error) {
	t.Helper()
	ldd, lerr := exec.LookPath("ldd")
	if lerr != nil {
		t.Skip("no ldd to compare with")
	}
	cmd := exec.Command(ldd, bin)
	cmd.Env = append(os.Environ(), "LD_PRELOAD=") // not followed by sharedObjects
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, nil, fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	for line := range strings.Lines(string(out)) {
		// libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)
		// /lib64/ld-linux-x86-64.so.2 (0x...)
		// libfoo.so.1 => not found
		// linux-vdso.so.1 (0x...)
		f := strings.Fields(line)
		var p string
		switch {
		case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
			missing = append(missing, f[0])
			continue
		case len(f) >= 3 && f[1] == "=>":
			p = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			p = f[0]
		default:
			continue
		}
		files = append(files, realPath(t, p))
	}
	slices.Sort(files)
	return slices.Compact(files), missing, nil
}

// isDynamic reports whether bin exists and is an ELF file with a PT_INTERP.
func isDynamic(bin string) bool {
	ef, err := elf.Open(bin)
	if err != nil {
		return false
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// TestAddBinaryDoesNotRunInterpreter packs a program whose PT_INTERP is a
// shell script: it must be packed as a file, not run (ldd and the old
// pkg/ldd code run "<interp> --list <binary>").
func TestAddBinaryDoesNotRunInterpreter(t *testing.T) {
	cc := cCompiler(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	interp := filepath.Join(dir, "evil-interp")
	script := "#!/bin/sh\necho ran >" + marker + "\n"
	if err := os.WriteFile(interp, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	cBuild(t, cc, prog, "int main(void) { return 0; }\n", "-Wl,--dynamic-linker="+interp)

	b := New()
	err := b.AddBinary("/bin/prog", prog)
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatalf("AddBinary ran the PT_INTERP %s", interp)
	} else if !errors.Is(serr, os.ErrNotExist) {
		t.Fatal(serr)
	}
	if err != nil {
		t.Fatalf("AddBinary: %v", err)
	}
	entries := checkArchive(t, list(t, b))
	e, err := resolve(entries, interp)
	if err != nil {
		t.Fatalf("interpreter: %v", err)
	}
	if !e.Mode.IsRegular() || e.Size != int64(len(script)) {
		t.Errorf("%s resolves to %+v, want the %d-byte script as a file", interp, e, len(script))
	}
	// libc.so.6 is still found, and with it the system's
	// ld-linux-x86-64.so.2 (its DT_NEEDED), which is not the interpreter.
	libc := false
	for name := range entries {
		libc = libc || path.Base(name) == "libc.so.6"
	}
	if !libc {
		t.Error("libc.so.6 is not in the archive")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("writing the archive ran the PT_INTERP %s", interp)
	}
}

// TestSharedObjectsMatchLdd compares the libraries found for host programs
// with what the host's ldd lists.
func TestSharedObjectsMatchLdd(t *testing.T) {
	bins := []string{"/bin/ls", "/usr/bin/qemu-system-x86_64", "/usr/bin/objdump", "/usr/bin/python3", "/usr/bin/ssh"}
	if exe, err := os.Executable(); err == nil {
		bins = append(bins, exe)
	}
	for _, bin := range bins {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			if !isDynamic(bin) {
				t.Skipf("%s is not a dynamically linked program", bin)
			}
			if fi, err := os.Stat("/etc/ld.so.preload"); err == nil && fi.Size() > 0 {
				t.Skip("ldd lists the libraries of /etc/ld.so.preload, which sharedObjects does not follow")
			}
			want, missing, err := hostLdd(t, bin)
			if err != nil || len(missing) > 0 {
				t.Skipf("ldd %s fails: %v, not found: %v", bin, err, missing)
			}
			got, err := resolvedFiles(t, bin)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files of %s mismatch (-ldd +sharedObjects):\n%s", bin, diff)
			}
		})
	}
}

// TestSharedObjectsLikeLoader builds programs with run paths and checks
// where their libraries are found, against the host's loader through ldd.
func TestSharedObjectsLikeLoader(t *testing.T) {
	cc := cCompiler(t)
	runpath := func(p string) []string { return []string{"-Wl,-rpath," + p, "-Wl,--enable-new-dtags"} }
	rpath := func(p string) []string { return []string{"-Wl,-rpath," + p, "-Wl,--disable-new-dtags"} }
	with := func(args []string, more ...string) []string { return append(slices.Clone(args), more...) }
	// linkA links a program in dir/bin/prog against dir/lib/libktstra.so.1.
	linkA := func(t *testing.T, dir string, args ...string) string {
		prog := filepath.Join(dir, "bin/prog")
		cBuild(t, cc, prog, mainSrc, with(args, "-L"+filepath.Join(dir, "lib"), "-l:libktstra.so.1")...)
		return prog
	}
	// libAB builds dir/lib/libktstra.so.1, needing dir/lib/libktstrb.so.1.
	libAB := func(t *testing.T, dir string, args ...string) {
		lib := filepath.Join(dir, "lib")
		buildLib(t, cc, filepath.Join(lib, "libktstrb.so.1"), libBSrc)
		buildLib(t, cc, filepath.Join(lib, "libktstra.so.1"), libABSrc, with(args, "-L"+lib, "-l:libktstrb.so.1")...)
	}
	hostInterp := "/lib64/ld-linux-x86-64.so.2"
	probe := &resolver{interp: hostInterp, machine: elf.EM_X86_64}
	dstLib, libErr := probe.dstLib()
	platform, platErr := probe.platform()

	tests := []struct {
		name string
		// build builds the program and its libraries in dir and returns
		// the program to pack and the LD_LIBRARY_PATH to use.
		build func(t *testing.T, dir string) (prog, env string)
		want  []string // libraries of ours, relative to dir (besides libc)
		// wantErr are substrings of the error; ldd must then report the
		// first as not found.
		wantErr []string
	}{
		{
			name: "RUNPATH $ORIGIN",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc)
				return linkA(t, dir, runpath("$ORIGIN/../lib")...), ""
			},
			want: []string{"lib/libktstra.so.1"},
		},
		{
			name: "RPATH $ORIGIN",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc)
				return linkA(t, dir, rpath("$ORIGIN/../lib")...), ""
			},
			want: []string{"lib/libktstra.so.1"},
		},
		{
			name: "RUNPATH ${ORIGIN} in a list",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc)
				return linkA(t, dir, runpath("/nonexistent:${ORIGIN}/../nothing::${ORIGIN}/../lib/")...), ""
			},
			want: []string{"lib/libktstra.so.1"},
		},
		{
			name: "$ORIGIN of a symlinked program is its real directory",
			build: func(t *testing.T, dir string) (string, string) {
				real := filepath.Join(dir, "real")
				buildLib(t, cc, filepath.Join(real, "lib/libktstra.so.1"), libASrc)
				linkA(t, real, runpath("$ORIGIN/../lib")...)
				if err := os.MkdirAll(filepath.Join(dir, "link"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("../real/bin/prog", filepath.Join(dir, "link/prog")); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "link/prog"), ""
			},
			want: []string{"real/lib/libktstra.so.1"},
		},
		{
			name: "$ORIGIN of a library is the directory it was found in",
			build: func(t *testing.T, dir string) (string, string) {
				// lib/libktstra.so.1 -> ../real/libktstra.so.1, whose
				// $ORIGIN/dep is lib/dep, not real/dep.
				buildLib(t, cc, filepath.Join(dir, "lib/dep/libktstrb.so.1"), libBSrc)
				buildLib(t, cc, filepath.Join(dir, "real/libktstra.so.1"), libABSrc,
					with(runpath("$ORIGIN/dep"), "-L"+filepath.Join(dir, "lib/dep"), "-l:libktstrb.so.1")...)
				if err := os.Symlink("../real/libktstra.so.1", filepath.Join(dir, "lib/libktstra.so.1")); err != nil {
					t.Fatal(err)
				}
				return linkA(t, dir, runpath("$ORIGIN/../lib")...), ""
			},
			want: []string{"real/libktstra.so.1", "lib/dep/libktstrb.so.1"},
		},
		{
			name: "RPATH applies to the libraries loaded",
			build: func(t *testing.T, dir string) (string, string) {
				libAB(t, dir)
				return linkA(t, dir, rpath("$ORIGIN/../lib")...), ""
			},
			want: []string{"lib/libktstra.so.1", "lib/libktstrb.so.1"},
		},
		{
			name: "RUNPATH applies to the object's own DT_NEEDED only",
			build: func(t *testing.T, dir string) (string, string) {
				libAB(t, dir)
				return linkA(t, dir, with(runpath("$ORIGIN/../lib"), "-Wl,-rpath-link,"+filepath.Join(dir, "lib"))...), ""
			},
			wantErr: []string{"libktstrb.so.1", "needed by ", "/lib/libktstra.so.1", "not found"},
		},
		{
			name: "a library's RUNPATH disables the RPATH of its loaders",
			build: func(t *testing.T, dir string) (string, string) {
				libAB(t, dir, runpath("/nonexistent")...)
				return linkA(t, dir, rpath("$ORIGIN/../lib")...), ""
			},
			wantErr: []string{"libktstrb.so.1", "not found"},
		},
		{
			name: "LD_LIBRARY_PATH before RUNPATH",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc)
				buildLib(t, cc, filepath.Join(dir, "env/libktstra.so.1"), libASrc)
				return linkA(t, dir, runpath("$ORIGIN/../lib")...), "/nonexistent;" + filepath.Join(dir, "env")
			},
			want: []string{"env/libktstra.so.1"},
		},
		{
			name: "RPATH before LD_LIBRARY_PATH",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc)
				buildLib(t, cc, filepath.Join(dir, "env/libktstra.so.1"), libASrc)
				return linkA(t, dir, rpath("$ORIGIN/../lib")...), filepath.Join(dir, "env")
			},
			want: []string{"lib/libktstra.so.1"},
		},
		{
			name: "$ORIGIN in LD_LIBRARY_PATH is the program's",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc)
				return linkA(t, dir), "$ORIGIN/../lib"
			},
			want: []string{"lib/libktstra.so.1"},
		},
		{
			name: "$LIB and $PLATFORM",
			build: func(t *testing.T, dir string) (string, string) {
				if libErr != nil || platErr != nil {
					t.Skipf("no $LIB or $PLATFORM for this host: %v, %v", libErr, platErr)
				}
				lib := filepath.Join(dir, dstLib, platform)
				buildLib(t, cc, filepath.Join(lib, "libktstra.so.1"), libASrc)
				prog := filepath.Join(dir, "bin/prog")
				cBuild(t, cc, prog, mainSrc, with(runpath("$ORIGIN/../$LIB/${PLATFORM}"), "-L"+lib, "-l:libktstra.so.1")...)
				return prog, ""
			},
			want: []string{filepath.Join(dstLib, platform, "libktstra.so.1")},
		},
		{
			name: "DT_NEEDED path with $ORIGIN",
			build: func(t *testing.T, dir string) (string, string) {
				buildLib(t, cc, filepath.Join(dir, "lib/libktstra.so.1"), libASrc, "-Wl,-soname,$ORIGIN/../lib/libktstra.so.1")
				return linkA(t, dir), ""
			},
			want: []string{"lib/libktstra.so.1"},
		},
		{
			name: "DF_1_NODEFLIB skips the cache and default directories",
			build: func(t *testing.T, dir string) (string, string) {
				prog := filepath.Join(dir, "bin/prog")
				cBuild(t, cc, prog, "int main(void) { return 0; }\n", "-Wl,-z,nodefaultlib")
				return prog, ""
			},
			wantErr: []string{"libc.so.6", "not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := realPath(t, t.TempDir())
			prog, env := tt.build(t, dir)
			t.Setenv("LD_LIBRARY_PATH", env)

			// The kernel gives the loader the program's path with symlinks
			// resolved (/proc/self/exe) for $ORIGIN, while ld.so --list of
			// older glibc (2.36 of Debian 12) uses the path it is given:
			// ldd gets the resolved path to answer as an exec would.
			ldd, missing, lddErr := hostLdd(t, realPath(t, prog))
			got, err := resolvedFiles(t, prog)
			if len(tt.wantErr) > 0 {
				if !slices.Contains(missing, tt.wantErr[0]) {
					t.Errorf("ldd finds %s: %v (%v), not found: %v; the test is wrong", tt.wantErr[0], ldd, lddErr, missing)
				}
				if err == nil {
					t.Fatalf("sharedObjects(%s) = %v, want an error", prog, got)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if lddErr != nil || len(missing) > 0 {
				t.Fatalf("ldd %s: %v, not found: %v", prog, lddErr, missing)
			}
			if diff := cmp.Diff(ldd, got); diff != "" {
				t.Errorf("files mismatch (-ldd +sharedObjects):\n%s", diff)
			}
			for _, want := range tt.want {
				if p := filepath.Join(dir, want); !slices.Contains(got, p) {
					t.Errorf("%s is not among the files found: %v", p, got)
				}
			}

			// The archive has every library at the path it was found at,
			// which may go through the program's directory ($ORIGIN/..):
			// the program is added at its real host path.
			_, libs, err := sharedObjects(prog)
			if err != nil {
				t.Fatal(err)
			}
			b := New()
			if err := b.AddBinary(realPath(t, prog), prog); err != nil {
				t.Fatal(err)
			}
			entries := checkArchive(t, list(t, b))
			for _, lib := range libs {
				if e, err := resolve(entries, lib); err != nil || !e.Mode.IsRegular() {
					t.Errorf("%s in the archive: %+v, %v", lib, e, err)
				}
			}
		})
	}
}

// elf32Header returns the ELF header of a 32-bit i386 shared library,
// padded to the size of a 64-bit one, which the loader reads first.
func elf32Header(t *testing.T) []byte {
	t.Helper()
	h := elf.Header32{Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_386), Version: uint32(elf.EV_CURRENT), Ehsize: 52, Phentsize: 32}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	buf.Write(make([]byte, 64))
	return buf.Bytes()
}

// TestSharedObjectsSkipsOtherClass puts a file named like the library in
// an LD_LIBRARY_PATH directory searched first: ELF files of another class
// or machine are passed over, as the loader does; other files stop the
// loader, and are errors.
func TestSharedObjectsSkipsOtherClass(t *testing.T) {
	cc := cCompiler(t)
	const soname = "libktstrfoo.so.1"
	tests := []struct {
		name    string
		bogus   func(t *testing.T, good []byte) []byte
		wantErr string // "" when the file is skipped
	}{
		{"ELFCLASS32", func(t *testing.T, _ []byte) []byte { return elf32Header(t) }, ""},
		{"EM_AARCH64", func(t *testing.T, good []byte) []byte {
			bad := slices.Clone(good)
			binary.LittleEndian.PutUint16(bad[18:], uint16(elf.EM_AARCH64))
			return bad
		}, ""},
		{"text file", func(*testing.T, []byte) []byte { return bytes.Repeat([]byte("not a library\n"), 10) }, "invalid ELF header"},
		{"truncated", func(_ *testing.T, good []byte) []byte { return good[:40] }, "file too short"},
		{"big-endian", func(_ *testing.T, good []byte) []byte {
			bad := slices.Clone(good)
			bad[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
			return bad
		}, "data encoding"},
	}
	dir := realPath(t, t.TempDir())
	goodLib := filepath.Join(dir, "good", soname)
	buildLib(t, cc, goodLib, libASrc)
	prog := filepath.Join(dir, "prog")
	cBuild(t, cc, prog, mainSrc, "-L"+filepath.Dir(goodLib), "-l:"+soname)
	good, err := os.ReadFile(goodLib)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bogus := filepath.Join(dir, fmt.Sprint("bogus", i), soname)
			if err := os.MkdirAll(filepath.Dir(bogus), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bogus, tt.bogus(t, good), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("LD_LIBRARY_PATH", filepath.Dir(bogus)+":"+filepath.Dir(goodLib))
			ldd, _, lddErr := hostLdd(t, prog)
			_, libs, err := sharedObjects(prog)
			if tt.wantErr != "" {
				if lddErr == nil || !strings.Contains(lddErr.Error(), tt.wantErr) {
					t.Errorf("ldd: %v, %v; want the loader to fail with %q", ldd, lddErr, tt.wantErr)
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), bogus) {
					t.Fatalf("sharedObjects error %v, want %q about %s", err, tt.wantErr, bogus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(libs, goodLib) || slices.Contains(libs, bogus) {
				t.Errorf("libraries %v, want %s and not %s", libs, goodLib, bogus)
			}
			if lddErr != nil || !slices.Contains(ldd, goodLib) {
				t.Errorf("ldd: %v, %v; want %s", ldd, lddErr, goodLib)
			}
		})
	}
}

func TestAddBinaryMissingLibrary(t *testing.T) {
	cc := cCompiler(t)
	tests := []struct {
		name string
		// build returns the program, the missing soname and the object
		// that needs it.
		build func(t *testing.T, dir string) (prog, soname, neededBy string)
	}{
		{"direct", func(t *testing.T, dir string) (string, string, string) {
			lib := filepath.Join(dir, "libktstrmissing.so")
			buildLib(t, cc, lib, libASrc)
			prog := filepath.Join(dir, "prog")
			cBuild(t, cc, prog, mainSrc, "-L"+dir, "-lktstrmissing")
			if err := os.Remove(lib); err != nil {
				t.Fatal(err)
			}
			return prog, "libktstrmissing.so", prog
		}},
		{"transitive", func(t *testing.T, dir string) (string, string, string) {
			lib := filepath.Join(dir, "lib")
			buildLib(t, cc, filepath.Join(lib, "libktstrb.so.1"), libBSrc)
			buildLib(t, cc, filepath.Join(lib, "libktstra.so.1"), libABSrc, "-L"+lib, "-l:libktstrb.so.1")
			prog := filepath.Join(dir, "prog")
			cBuild(t, cc, prog, mainSrc, "-L"+lib, "-l:libktstra.so.1", "-Wl,-rpath,"+lib)
			if err := os.Remove(filepath.Join(lib, "libktstrb.so.1")); err != nil {
				t.Fatal(err)
			}
			return prog, "libktstrb.so.1", filepath.Join(lib, "libktstra.so.1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, soname, neededBy := tt.build(t, realPath(t, t.TempDir()))
			b := New()
			err := b.AddBinary("/prog", prog)
			if err == nil {
				t.Fatal("AddBinary succeeded, want a library not found")
			}
			msg := err.Error()
			for _, want := range []string{"initramfs: add binary /prog: ", soname + " needed by " + neededBy + ": not found", ldCacheFile} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "--list") || strings.HasSuffix(msg, "\n") {
				t.Errorf("error %q suggests running something or ends with a newline", msg)
			}
			if got, want := mustHash(t, b), mustHash(t, New()); got != want {
				t.Error("a failed AddBinary added entries")
			}
		})
	}
}

func TestExpandDST(t *testing.T) {
	r := &resolver{interp: "/nonexistent/ld.so", machine: elf.EM_X86_64}
	l := &object{origin: "/o"}
	tests := []struct{ in, want, wantErr string }{
		{"$ORIGIN/../lib", "/o/../lib", ""},
		{"${ORIGIN}/lib", "/o/lib", ""},
		{"$ORIGIN", "/o", ""},
		{"a$ORIGIN$ORIGIN", "a/o/o", ""},
		{"$ORIGINAL/lib", "$ORIGINAL/lib", ""}, // not a token: kept
		{"$ORIGIN_x", "$ORIGIN_x", ""},
		{"${ORIGIN/lib", "${ORIGIN/lib", ""},
		{"$HOME/lib", "$HOME/lib", ""},
		{"/lib/$PLATFORM", "/lib/x86_64", ""},
		{"/lib/${PLATFORM}x", "/lib/x86_64x", ""},
		{"/$", "/$", ""},
		{"/$LIB", "", "$LIB"},
	}
	for _, tt := range tests {
		got, err := r.expand(l, tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expand(%q) = %q, %v, want an error about %s", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCacheNameEqual(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"libc.so.6", "libc.so.6", true},
		{"libc.so.6", "libc.so.06", true},
		{"libfoo10.so", "libfoo010.so", true},
		{"libc.so.6", "libc.so.60", false},
		{"libc.so.6", "libc.so.6.1", false},
		{"libc.so", "libc.so.6", false},
		{"liba.so", "libb.so", false},
		{"lib1a", "lib1", false},
	} {
		if got := cacheNameEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("cacheNameEqual(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestParseLdCache compares the host's ld.so cache as parsed with what
// ldconfig -p prints.
func TestParseLdCache(t *testing.T) {
	ldconfig, err := exec.LookPath("ldconfig")
	if err != nil {
		ldconfig = "/sbin/ldconfig"
	}
	out, err := exec.Command(ldconfig, "-p", "-C", ldCacheFile).Output()
	if err != nil {
		t.Skipf("ldconfig -p: %v", err)
	}
	var want []string
	for line := range strings.Lines(string(out)) {
		// libz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " (")
		flags, path, ok2 := strings.Cut(rest, ") => ")
		if ok && ok2 && flags == "libc6,x86-64" {
			want = append(want, name+" => "+strings.TrimSpace(path))
		}
	}
	var got []string
	for _, e := range readLdCache(ldCacheFile) {
		if e.flags == 0x0303 && e.hwcap == 0 {
			got = append(got, e.name+" => "+e.path)
		}
	}
	if len(want) == 0 {
		t.Skip("ldconfig -p lists no x86-64 libraries")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ld.so cache mismatch (-ldconfig +readLdCache):\n%s", diff)
	}
}

// TestCacheLookup looks names up in caches of both formats written here.
func TestCacheLookup(t *testing.T) {
	type ent struct {
		flags      int32
		name, path string
		hwcap      uint64
	}
	entries := []ent{
		{0x0003, "libx.so.1", "/i386/libx.so.1", 0},
		{0x0303, "libx.so.1", "/hwcap/libx.so.1", 1 << 62},
		{0x0303, "libx.so.1", "/lib64/libx.so.1", 0},
		{0x0303, "libx.so.1", "/later/libx.so.1", 0},
		{0x0001, "liby.so", "/elf/liby.so", 0},
		{0x0003, "liby.so", "/libc6/liby.so", 0},
	}
	le := binary.LittleEndian
	// The new format, with string offsets from its start.
	newCache := func() []byte {
		var strs []byte
		off := func(s string) uint32 {
			o := uint32(cacheHeaderNew + cacheEntryNew*len(entries) + len(strs))
			strs = append(append(strs, s...), 0)
			return o
		}
		b := []byte(cacheMagicNew)
		b = le.AppendUint32(b, uint32(len(entries)))
		b = le.AppendUint32(b, 0) // len_strings, unused by the loader
		b = append(b, 2, 0, 0, 0) // little-endian
		b = append(b, make([]byte, 16)...)
		for _, e := range entries {
			b = le.AppendUint32(b, uint32(e.flags))
			b = le.AppendUint32(b, off(e.name))
			b = le.AppendUint32(b, off(e.path))
			b = le.AppendUint32(b, 0)
			b = le.AppendUint64(b, e.hwcap)
		}
		return append(b, strs...)
	}
	// The old format, string offsets from the end of its entries, where
	// the new format, if any, starts (aligned to 8 bytes) and its strings
	// follow.
	oldCache := func(withNew bool) []byte {
		n := 0
		for _, e := range entries {
			if e.hwcap == 0 {
				n++
			}
		}
		b := append([]byte(cacheMagicOld), 0)
		b = le.AppendUint32(b, uint32(n))
		var strs []byte
		if withNew {
			end := cacheHeaderOld + n*cacheEntryOld
			strs = append(make([]byte, (8-end%8)%8), newCache()...)
		}
		off := func(s string) uint32 {
			o := uint32(len(strs))
			strs = append(append(strs, s...), 0)
			return o
		}
		for _, e := range entries {
			if e.hwcap != 0 {
				continue // no hwcap in this format
			}
			if withNew {
				// Wrong, to see that the new format is used.
				e.path = strings.Replace(e.path, "/lib64/", "/wrong/", 1)
			}
			b = le.AppendUint32(b, uint32(e.flags))
			b = le.AppendUint32(b, off(e.name))
			b = le.AppendUint32(b, off(e.path))
		}
		return append(b, strs...)
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the caches written here are little-endian")
	}
	for _, tt := range []struct {
		name  string
		cache []byte
	}{{"new", newCache()}, {"old", oldCache(false)}, {"old and new", oldCache(true)}} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ld.so.cache")
			if err := os.WriteFile(p, tt.cache, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				class          elf.Class
				machine        elf.Machine
				name, wantPath string
			}{
				{elf.ELFCLASS64, elf.EM_X86_64, "libx.so.1", "/lib64/libx.so.1"},
				{elf.ELFCLASS64, elf.EM_X86_64, "libx.so.01", "/lib64/libx.so.1"},
				{elf.ELFCLASS32, elf.EM_386, "libx.so.1", "/i386/libx.so.1"},
				{elf.ELFCLASS32, elf.EM_386, "liby.so", "/libc6/liby.so"},
				{elf.ELFCLASS64, elf.EM_X86_64, "liby.so", ""},
				{elf.ELFCLASS64, elf.EM_X86_64, "libz.so", ""},
			} {
				r := &resolver{class: c.class, machine: c.machine, cacheFile: p}
				if got := r.cacheLookup(c.name); got != c.wantPath {
					t.Errorf("%v %v cacheLookup(%s) = %q, want %q", c.class, c.machine, c.name, got, c.wantPath)
				}
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte(cacheMagicNew), newCache()[:100], []byte(cacheMagicOld + "\x00\xff\xff\xff\xff")} {
		if got := parseLdCache(bad); got != nil {
			t.Errorf("parseLdCache(%q) = %v, want nil", bad, got)
		}
	}
}
