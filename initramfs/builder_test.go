package initramfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/u-root/u-root/pkg/cpio"
)

// archive writes b and returns the archive.
func archive(t *testing.T, b *Builder) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// list writes b and lists the archive.
func list(t *testing.T, b *Builder) []Entry {
	t.Helper()
	entries, err := List(bytes.NewReader(archive(t, b)))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return entries
}

func dirEntry(name string, perm os.FileMode) Entry { return Entry{Name: name, Mode: os.ModeDir | perm} }
func fileEntry(name string, perm os.FileMode, size int64) Entry {
	return Entry{Name: name, Mode: perm, Size: size}
}
func linkEntry(name, target string) Entry {
	return Entry{Name: name, Mode: os.ModeSymlink | 0o777, Size: int64(len(target)), Link: target}
}

// hostFile writes a host file with exactly this mode and returns its path.
func hostFile(t *testing.T, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteList(t *testing.T) {
	tests := []struct {
		name string
		add  func(t *testing.T, b *Builder)
		want []Entry
	}{
		{
			name: "empty",
			add:  func(*testing.T, *Builder) {},
			want: nil,
		},
		{
			name: "files dirs symlinks",
			add: func(t *testing.T, b *Builder) {
				b.AddBytes("/init", []byte("#!/bin/sh\n"), 0o755)
				b.AddBytes("/etc/passwd", []byte("root:x:0:0::/:/bin/sh\n"), 0o644)
				b.AddDir("/etc", 0o700)
				b.AddSymlink("/bin/sh", "busybox")
				b.AddDir("/tmp", os.ModeDir|os.ModeSticky|0o777)
				b.AddDir("/var/empty", 0o555)
				b.AddBytes("usr//bin/./setuid", nil, os.ModeSetuid|0o755)
				b.AddBytes("/usr/bin/setgid", nil, 0o2755) // Unix-style bits too
				if err := b.AddFile("/etc/hosts", hostFile(t, "127.0.0.1 localhost\n", 0o640)); err != nil {
					t.Fatal(err)
				}
			},
			want: []Entry{
				dirEntry("bin", 0o755),
				linkEntry("bin/sh", "busybox"),
				dirEntry("etc", 0o700),
				fileEntry("etc/hosts", 0o640, 20),
				fileEntry("etc/passwd", 0o644, 22),
				fileEntry("init", 0o755, 10),
				dirEntry("tmp", os.ModeSticky|0o777),
				dirEntry("usr", 0o755),
				dirEntry("usr/bin", 0o755),
				fileEntry("usr/bin/setgid", os.ModeSetgid|0o755, 0),
				fileEntry("usr/bin/setuid", os.ModeSetuid|0o755, 0),
				dirEntry("var", 0o755),
				dirEntry("var/empty", 0o555),
			},
		},
		{
			name: "archive order puts a directory right before its contents",
			add: func(t *testing.T, b *Builder) {
				for _, p := range []string{"/a-b", "/a/d", "/a.b", "/a/b/c", "/ab", "/a0"} {
					b.AddBytes(p, nil, 0o644)
				}
			},
			want: []Entry{
				dirEntry("a", 0o755),
				dirEntry("a/b", 0o755),
				fileEntry("a/b/c", 0o644, 0),
				fileEntry("a/d", 0o644, 0),
				fileEntry("a-b", 0o644, 0),
				fileEntry("a.b", 0o644, 0),
				fileEntry("a0", 0o644, 0),
				fileEntry("ab", 0o644, 0),
			},
		},
		{
			name: "entries below a directory symlink land at its target",
			add: func(t *testing.T, b *Builder) {
				b.AddBytes("/lib/modules/x.ko", []byte("ko"), 0o644)
				b.AddSymlink("/lib", "usr/lib")
				b.AddDir("/lib", 0o700) // applies to usr/lib
				b.AddSymlink("/lib/libfoo.so.1", "libfoo.so.1.2")
				b.AddBytes("/usr/lib/libfoo.so.1.2", []byte("elf"), 0o755)
			},
			want: []Entry{
				linkEntry("lib", "usr/lib"),
				dirEntry("usr", 0o755),
				dirEntry("usr/lib", 0o700),
				linkEntry("usr/lib/libfoo.so.1", "libfoo.so.1.2"),
				fileEntry("usr/lib/libfoo.so.1.2", 0o755, 3),
				dirEntry("usr/lib/modules", 0o755),
				fileEntry("usr/lib/modules/x.ko", 0o644, 2),
			},
		},
		{
			name: "merged usr chain as on Debian",
			add: func(t *testing.T, b *Builder) {
				b.AddSymlink("/lib64", "usr/lib64")
				b.AddSymlink("/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
				b.AddSymlink("/lib", "usr/lib")
				b.AddBytes("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", []byte("ld"), 0o755)
				b.AddBytes("/lib64/extra", []byte("x"), 0o644)
			},
			want: []Entry{
				linkEntry("lib", "usr/lib"),
				linkEntry("lib64", "usr/lib64"),
				dirEntry("usr", 0o755),
				dirEntry("usr/lib", 0o755),
				dirEntry("usr/lib/x86_64-linux-gnu", 0o755),
				fileEntry("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", 0o755, 2),
				dirEntry("usr/lib64", 0o755),
				fileEntry("usr/lib64/extra", 0o644, 1),
				linkEntry("usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
			},
		},
		{
			name: "chained and relative symlinks, resolved whatever their order",
			add: func(t *testing.T, b *Builder) {
				b.AddBytes("/a/f", []byte("f"), 0o644)
				b.AddSymlink("/a", "b/../c")   // through c
				b.AddSymlink("/c", "/d/e")     // absolute
				b.AddSymlink("/d/e/g", "../h") // below a resolved symlink
			},
			want: []Entry{
				linkEntry("a", "b/../c"),
				dirEntry("b", 0o755),
				linkEntry("c", "/d/e"),
				dirEntry("d", 0o755),
				dirEntry("d/e", 0o755),
				fileEntry("d/e/f", 0o644, 1),
				linkEntry("d/e/g", "../h"),
			},
		},
		{
			name: "identical entries added twice",
			add: func(t *testing.T, b *Builder) {
				for range 2 {
					b.AddBytes("/x", []byte("x"), 0o644)
					b.AddSymlink("/y", "x")
					b.AddDir("/z", 0o700)
					if err := b.AddFile("/w", hostFile(t, "x", 0o644)); err != nil {
						t.Fatal(err)
					}
				}
				b.AddSymlink("/s", "z")
				b.AddBytes("/s/file", []byte("x"), 0o644) // same as /z/file
				b.AddBytes("/z/file", []byte("x"), 0o644)
			},
			want: []Entry{
				linkEntry("s", "z"),
				fileEntry("w", 0o644, 1),
				fileEntry("x", 0o644, 1),
				linkEntry("y", "x"),
				dirEntry("z", 0o700),
				fileEntry("z/file", 0o644, 1),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			tt.add(t, b)
			if diff := cmp.Diff(tt.want, list(t, b)); diff != "" {
				t.Errorf("List mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZeroValue(t *testing.T) {
	var b Builder
	b.AddBytes("/x", []byte("x"), 0o644)
	if diff := cmp.Diff([]Entry{fileEntry("x", 0o644, 1)}, list(t, &b)); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
}

func TestFileContents(t *testing.T) {
	host := hostFile(t, "from the host", 0o600)
	// AddFile follows symlinks of the host path.
	hostLink := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(host, hostLink); err != nil {
		t.Fatal(err)
	}
	b := New()
	if err := b.AddFile("/host", hostLink); err != nil {
		t.Fatal(err)
	}
	b.AddBytes("/bytes", []byte("from memory"), 0o644)
	b.AddSymlink("/link", "host")

	got := map[string]string{}
	rr := cpio.Newc.Reader(bytes.NewReader(archive(t, b)))
	err := cpio.ForEachRecord(rr, func(r cpio.Record) error {
		data := make([]byte, r.FileSize)
		if _, err := r.ReadAt(data, 0); err != nil && r.FileSize > 0 {
			return err
		}
		got[r.Name] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"host": "from the host", "bytes": "from memory", "link": "host"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
}

func TestReproducible(t *testing.T) {
	host := hostFile(t, "contents", 0o755)
	build := func(reverse bool) *Builder {
		adds := []func(b *Builder){
			func(b *Builder) { b.AddBytes("/a/b/c", []byte("c"), 0o644) },
			func(b *Builder) { b.AddDir("/d", 0o700) },
			func(b *Builder) { b.AddSymlink("/e", "a/b") },
			func(b *Builder) {
				if err := b.AddFile("/f", host); err != nil {
					t.Fatal(err)
				}
			},
		}
		b := New()
		for i := range adds {
			if reverse {
				i = len(adds) - 1 - i
			}
			adds[i](b)
		}
		return b
	}
	a1, a2 := archive(t, build(false)), archive(t, build(true))
	if !bytes.Equal(a1, a2) {
		t.Fatal("archives of the same entries added in another order differ")
	}
	if len(a1)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(a1))
	}

	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(a1)))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		wantLinks := uint64(1)
		if r.Mode&cpio.S_IFMT == cpio.S_IFDIR {
			wantLinks = 2
		}
		if r.MTime != 0 || r.UID != 0 || r.GID != 0 || r.Ino != uint64(i+1) || r.NLink != wantLinks {
			t.Errorf("record %d: %v: want mtime, uid, gid 0, ino %d, nlink %d", i, r.Info, i+1, wantLinks)
		}
	}
	if !bytes.HasSuffix(a1, []byte(cpio.Trailer+"\x00\x00\x00\x00")) {
		t.Errorf("archive does not end with the trailer: %q", a1[max(0, len(a1)-32):])
	}
}

func TestHash(t *testing.T) {
	host := hostFile(t, "same", 0o644)
	tests := []struct {
		name string
		a, b func(b *Builder)
		same bool
	}{
		{
			name: "insertion order",
			a: func(b *Builder) {
				b.AddBytes("/x", []byte("x"), 0o644)
				b.AddSymlink("/y", "x")
				b.AddDir("/z", 0o700)
			},
			b: func(b *Builder) {
				b.AddDir("/z", 0o700)
				b.AddSymlink("/y", "x")
				b.AddBytes("/x", []byte("x"), 0o644)
			},
			same: true,
		},
		{
			name: "content",
			a:    func(b *Builder) { b.AddBytes("/x", []byte("x"), 0o644) },
			b:    func(b *Builder) { b.AddBytes("/x", []byte("y"), 0o644) },
		},
		{
			name: "mode",
			a:    func(b *Builder) { b.AddBytes("/x", []byte("x"), 0o644) },
			b:    func(b *Builder) { b.AddBytes("/x", []byte("x"), 0o755) },
		},
		{
			name: "path",
			a:    func(b *Builder) { b.AddBytes("/x", []byte("x"), 0o644) },
			b:    func(b *Builder) { b.AddBytes("/y", []byte("x"), 0o644) },
		},
		{
			name: "symlink target",
			a:    func(b *Builder) { b.AddSymlink("/x", "a") },
			b:    func(b *Builder) { b.AddSymlink("/x", "b") },
		},
		{
			name: "directory mode",
			a:    func(b *Builder) { b.AddDir("/x", 0o755) },
			b:    func(b *Builder) { b.AddDir("/x", 0o700) },
		},
		{
			name: "file or symlink",
			a:    func(b *Builder) { b.AddBytes("/x", []byte("a"), 0o777) },
			b:    func(b *Builder) { b.AddSymlink("/x", "a") },
		},
		{
			name: "host file and bytes with the same contents",
			a: func(b *Builder) {
				if err := b.AddFile("/x", host); err != nil {
					panic(err)
				}
			},
			b:    func(b *Builder) { b.AddBytes("/x", []byte("same"), 0o644) },
			same: true,
		},
		{
			name: "explicit 0755 parent and implicit parent",
			a: func(b *Builder) {
				b.AddDir("/d", 0o755)
				b.AddBytes("/d/x", nil, 0o644)
			},
			b:    func(b *Builder) { b.AddBytes("/d/x", nil, 0o644) },
			same: true,
		},
		{
			name: "path through a symlink and resolved path",
			a: func(b *Builder) {
				b.AddSymlink("/lib", "usr/lib")
				b.AddBytes("/lib/x", nil, 0o644)
			},
			b: func(b *Builder) {
				b.AddSymlink("/lib", "usr/lib")
				b.AddBytes("/usr/lib/x", nil, 0o644)
			},
			same: true,
		},
		{
			name: "fields do not run into each other",
			a:    func(b *Builder) { b.AddSymlink("/ab", "c") },
			b:    func(b *Builder) { b.AddSymlink("/a", "bc") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := New(), New()
			tt.a(a)
			tt.b(b)
			ha, err := a.Hash()
			if err != nil {
				t.Fatal(err)
			}
			hb, err := b.Hash()
			if err != nil {
				t.Fatal(err)
			}
			if len(ha) != 64 || strings.Trim(ha, "0123456789abcdef") != "" {
				t.Errorf("Hash = %q, want 64 hex digits", ha)
			}
			if (ha == hb) != tt.same {
				t.Errorf("hashes %s and %s: equal = %v, want %v", ha, hb, ha == hb, tt.same)
			}
			if got := bytes.Equal(archive(t, a), archive(t, b)); got != tt.same {
				t.Errorf("archives equal = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	tests := []struct {
		name string
		add  func(t *testing.T, b *Builder) error // returns the error of the Add expected to fail, if any
		want string                               // in the error
	}{
		{
			name: "different bytes",
			add: func(t *testing.T, b *Builder) error {
				b.AddBytes("/x", []byte("1"), 0o644)
				b.AddBytes("/x", []byte("2"), 0o644)
				return nil
			},
			want: "add bytes /x: conflicting entries",
		},
		{
			name: "different modes",
			add: func(t *testing.T, b *Builder) error {
				b.AddBytes("/x", []byte("1"), 0o644)
				b.AddBytes("x", []byte("1"), 0o600)
				return nil
			},
			want: "add bytes x: conflicting entries",
		},
		{
			name: "host file differs from bytes",
			add: func(t *testing.T, b *Builder) error {
				b.AddBytes("/x", []byte("1"), 0o644)
				return b.AddFile("/x", hostFile(t, "2", 0o644))
			},
			want: "add file /x: conflicting entries",
		},
		{
			name: "file and directory",
			add: func(t *testing.T, b *Builder) error {
				b.AddBytes("/x", nil, 0o644)
				b.AddDir("/x", 0o755)
				return nil
			},
			want: "add directory /x: conflicting entries",
		},
		{
			name: "directory and file",
			add: func(t *testing.T, b *Builder) error {
				b.AddDir("/x", 0o755)
				b.AddBytes("/x", nil, 0o644)
				return nil
			},
			want: "add bytes /x: conflicting entries",
		},
		{
			name: "directory modes",
			add: func(t *testing.T, b *Builder) error {
				b.AddDir("/x", 0o755)
				b.AddDir("/x", 0o700)
				return nil
			},
			want: "add directory /x: conflicting entries",
		},
		{
			name: "file and symlink",
			add: func(t *testing.T, b *Builder) error {
				b.AddSymlink("/x", "y")
				b.AddBytes("/x", []byte("y"), 0o777)
				return nil
			},
			want: "add bytes /x: conflicting entries",
		},
		{
			name: "symlink targets",
			add: func(t *testing.T, b *Builder) error {
				b.AddSymlink("/x", "y")
				b.AddSymlink("/x", "z")
				return nil
			},
			want: "add symlink /x: conflicting entries",
		},
		{
			name: "file below a file",
			add: func(t *testing.T, b *Builder) error {
				b.AddBytes("/x", nil, 0o644)
				b.AddBytes("/x/y", nil, 0o644)
				return nil
			},
			want: "/x/y: conflicting entries: /x is a file (added as /x), not a directory",
		},
		{
			name: "two paths resolving to one",
			add: func(t *testing.T, b *Builder) error {
				b.AddSymlink("/lib", "usr/lib")
				b.AddBytes("/lib/x", []byte("1"), 0o644)
				b.AddBytes("/usr/lib/x", []byte("2"), 0o644)
				return nil
			},
			want: "/usr/lib/x: conflicting entries: file mode 0644, 1 bytes, sha256 d4735e3a265e (bytes) vs file mode 0644, 1 bytes, sha256 6b86b273ff34 (bytes) added as /lib/x",
		},
		{
			name: "directory modes through a symlink",
			add: func(t *testing.T, b *Builder) error {
				b.AddSymlink("/lib", "usr/lib")
				b.AddDir("/lib", 0o700)
				b.AddDir("/usr/lib", 0o755)
				return nil
			},
			want: "conflicting entries: directory mode 0755 vs directory mode 0700",
		},
		{
			name: "symlink to a file used as a directory",
			add: func(t *testing.T, b *Builder) error {
				b.AddBytes("/c", nil, 0o644)
				b.AddSymlink("/a", "c")
				b.AddBytes("/a/x", nil, 0o644)
				return nil
			},
			want: "/a/x: conflicting entries: /c is a file (added as /c), not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			err := tt.add(t, b)
			deferred := err == nil
			if deferred {
				_, err = b.Hash()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want ErrConflict and %q", err, tt.want)
			}
			if _, werr := b.WriteTo(&bytes.Buffer{}); deferred && werr == nil {
				t.Error("WriteTo succeeded after a conflict")
			}
		})
	}
}

func TestSymlinkLoop(t *testing.T) {
	b := New()
	b.AddSymlink("/a", "b")
	b.AddSymlink("/b", "a")
	b.AddBytes("/a/x", nil, 0o644)
	if _, err := b.Hash(); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("Hash error %v, want too many levels of symbolic links", err)
	}
}

func TestInvalidPaths(t *testing.T) {
	for _, p := range []string{"", "/", ".", "//", "../x", "/../x", "TRAILER!!!", "a\x00b"} {
		b := New()
		b.AddBytes(p, nil, 0o644)
		if b.Err() == nil {
			t.Errorf("AddBytes(%q): no error", p)
		}
		if _, err := b.Hash(); err == nil {
			t.Errorf("AddBytes(%q): Hash succeeded", p)
		}
		if err := b.AddFile(p, "/proc/self/exe"); err == nil {
			t.Errorf("AddFile(%q): no error", p)
		}
	}
	b := New()
	b.AddSymlink("/x", "")
	if b.Err() == nil {
		t.Error("AddSymlink with an empty target: no error")
	}
	if err := New().AddFile("/x", t.TempDir()); err == nil {
		t.Error("AddFile of a directory: no error")
	}
	if err := New().AddFile("/x", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("AddFile of a missing file: no error")
	}
}

func TestHostFileChanged(t *testing.T) {
	for _, tt := range []struct{ name, data string }{
		{"same size", "CONTENTS"},
		{"other size", "longer contents"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := hostFile(t, "contents", 0o644)
			b := New()
			if err := b.AddFile("/x", p); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := b.WriteTo(&bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), "changed since it was added") {
				t.Errorf("WriteTo error %v, want changed since it was added", err)
			}
		})
	}
}
