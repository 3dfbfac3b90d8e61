package kernel

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

func TestTreeVersion(t *testing.T) {
	tests := []struct{ name, makefile, want, wantErr string }{
		{name: "release", makefile: "# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 57\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n", want: "6.12.57"},
		{name: "rc", makefile: "VERSION = 6\nPATCHLEVEL = 14\nSUBLEVEL = 0\nEXTRAVERSION = -rc1\n", want: "6.14.0-rc1"},
		{name: "not kernel", makefile: "all:\n\techo hi\n", wantErr: "not a kernel Makefile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "Makefile"), []byte(tt.makefile))
			got, err := TreeVersion(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("TreeVersion = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// fakeTree writes a minimal kernel-looking tree.
func fakeTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "linux")
	writeFile(t, filepath.Join(dir, "Makefile"), []byte("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\nEXTRAVERSION =\n"))
	writeFile(t, filepath.Join(dir, "Kconfig"), []byte("source \"init/Kconfig\"\n"))
	writeFile(t, filepath.Join(dir, "scripts/kconfig/merge_config.sh"), []byte("#!/bin/sh\n"))
	writeFile(t, filepath.Join(dir, "kernel/sched/ext.c"), []byte("/* scx */\n"))
	return dir
}

func TestTreeSourceIdentity(t *testing.T) {
	ctx := context.Background()
	dir := fakeTree(t)
	id := func() string {
		t.Helper()
		s, err := treeSource(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.id, "linux-") || !strings.Contains(s.desc, "6.12.0") {
			t.Errorf("source = %+v", s)
		}
		return s.identity
	}
	first := id()
	if again := id(); again != first {
		t.Fatalf("identity changed without edits:\n%s\n%s", first, again)
	}
	// Build products do not count.
	writeFile(t, filepath.Join(dir, "kernel/sched/ext.o"), []byte("obj"))
	writeFile(t, filepath.Join(dir, "kernel/sched/.ext.o.cmd"), []byte("cmd"))
	writeFile(t, filepath.Join(dir, "include/generated/autoconf.h"), []byte("#define X"))
	if got := id(); got != first {
		t.Errorf("build products changed the identity")
	}
	// An edit does.
	writeFile(t, filepath.Join(dir, "kernel/sched/ext.c"), []byte("/* scx, edited */\n"))
	if got := id(); got == first {
		t.Errorf("editing a source file kept the identity")
	}
	if _, err := treeSource(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a kernel source tree") {
		t.Errorf("empty dir as source: error = %v", err)
	}
}

func TestTreeSourceGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	ctx := context.Background()
	dir := fakeTree(t)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "init")
	s1, err := treeSource(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s1.identity, "git=") || strings.Contains(s1.desc, "dirty") {
		t.Fatalf("clean git tree: %+v", s1)
	}
	src := filepath.Join(dir, "kernel/sched/ext.c")
	writeFile(t, src, []byte("/* edit 1 */\n"))
	s2, _ := treeSource(ctx, dir)
	if s2.identity == s1.identity || !strings.Contains(s2.desc, "dirty") {
		t.Errorf("dirty tree: identity unchanged or not described as dirty: %+v", s2)
	}
	// A second edit of an already modified file changes it again.
	writeFile(t, src, []byte("/* edit 2, longer */\n"))
	if s3, _ := treeSource(ctx, dir); s3.identity == s2.identity {
		t.Errorf("second edit kept the identity")
	}
}

func TestExtract(t *testing.T) {
	for _, tool := range []string{"tar", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	ctx := context.Background()
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "linux-source-9.9/Makefile"), []byte("VERSION = 9\n"))
	tarball := filepath.Join(work, "linux-source-9.9.tar.xz")
	if out, err := exec.Command("tar", "-cJf", tarball, "-C", work, "linux-source-9.9").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	srcRoot := filepath.Join(t.TempDir(), "src")
	src := &source{tarball: tarball, identity: "v1"}
	var log strings.Builder
	if err := extract(ctx, src, srcRoot, &log, hostbuild.Reporter{}); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(srcRoot, "linux-source-9.9")
	if src.tree != tree || !exists(filepath.Join(tree, "Makefile")) || !exists(tree+".ktstr-extracted") {
		t.Fatalf("after extract: tree %q, log:\n%s", src.tree, log.String())
	}
	// Done once: the marker stops a second extraction.
	log.Reset()
	if err := extract(ctx, src, srcRoot, &log, hostbuild.Reporter{}); err != nil || strings.Contains(log.String(), "tar -x") {
		t.Errorf("second extract ran tar (err %v):\n%s", err, log.String())
	}
	// A partial extraction (no marker) is redone in place, keeping the
	// archive's mtimes.
	os.Remove(tree + ".ktstr-extracted")
	writeFile(t, filepath.Join(tree, "leftover"), nil)
	if err := extract(ctx, src, srcRoot, &log, hostbuild.Reporter{}); err != nil || !strings.Contains(log.String(), "tar -x") {
		t.Errorf("extract without marker did not run tar (err %v)", err)
	}
	if !exists(filepath.Join(tree, "leftover")) {
		t.Errorf("in-place re-extraction removed the tree")
	}
	// Another tarball replaces the tree.
	src.identity = "v2"
	if err := extract(ctx, src, srcRoot, &log, hostbuild.Reporter{}); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(tree, "leftover")) {
		t.Errorf("a new tarball did not replace the old tree")
	}
	if m, err := readMarker(tree + ".ktstr-extracted"); err != nil || m.identity != "v2" || m.pending || len(m.patches) != 0 {
		t.Errorf("marker = %+v, %v; want v2 without patches", m, err)
	}
}

// patchTarball writes a tarball holding linux-source-9.9 with a Makefile,
// a.c and b.c, and returns its path.
func patchTarball(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"tar", "xz", "patch"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "linux-source-9.9/Makefile"), []byte("VERSION = 9\n"))
	writeFile(t, filepath.Join(work, "linux-source-9.9/a.c"), []byte(pristineA))
	writeFile(t, filepath.Join(work, "linux-source-9.9/sub/b.c"), []byte(pristineB))
	tarball := filepath.Join(work, "linux-source-9.9.tar.xz")
	if out, err := exec.Command("tar", "-cJf", tarball, "-C", work, "linux-source-9.9").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return tarball
}

const (
	pristineA = "one\ntwo\nthree\n"
	pristineB = "four\nfive\nsix\n"
	patchedA  = "one\nTWO\nthree\n"
	patchedB  = "four\nFIVE\nsix\n"
)

func testPatch(t *testing.T, name, diff string) kpatch {
	t.Helper()
	p, err := newPatch(name, []byte(diff))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExtractPatches checks that the extracted tree is always the tarball
// plus exactly the current patches, through patch set changes, an old
// marker without patches and a patch that fails.
func TestExtractPatches(t *testing.T) {
	ctx := context.Background()
	tarball := patchTarball(t)
	pA := testPatch(t, "0001-a.patch", "--- a/a.c\n+++ b/a.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")
	pNew := testPatch(t, "0002-new.patch", "--- /dev/null\n+++ b/new.c\n@@ -0,0 +1 @@\n+new\n")
	pB := testPatch(t, "0001-b.patch", "--- a/sub/b.c\n+++ b/sub/b.c\n@@ -1,3 +1,3 @@\n four\n-five\n+FIVE\n six\n")
	pBad := testPatch(t, "0002-bad.patch", "--- a/sub/b.c\n+++ b/sub/b.c\n@@ -1,3 +1,3 @@\n nope\n-nah\n+x\n zip\n")

	srcRoot := filepath.Join(t.TempDir(), "src")
	tree := filepath.Join(srcRoot, "linux-source-9.9")
	marker := tree + markerSuffix
	var log strings.Builder
	run := func(patches ...kpatch) error {
		t.Helper()
		log.Reset()
		src := &source{tarball: tarball, identity: "v1", patches: patches}
		err := extract(ctx, src, srcRoot, &log, hostbuild.Reporter{})
		if err == nil && src.tree != tree {
			t.Fatalf("tree %q", src.tree)
		}
		return err
	}
	check := func(step string, files map[string]string, patches ...kpatch) {
		t.Helper()
		for f, want := range files {
			b, err := os.ReadFile(filepath.Join(tree, f))
			switch {
			case want == "" && err == nil:
				t.Errorf("%s: %s exists, want it gone", step, f)
			case want != "" && string(b) != want:
				t.Errorf("%s: %s = %q (%v), want %q", step, f, b, err, want)
			}
		}
		m, err := readMarker(marker)
		if err != nil || m.pending || m.identity != "v1" || !sameRecords(m.patches, records(patches)) {
			t.Errorf("%s: marker %+v, %v; want patches %v", step, m, err, records(patches))
		}
		for _, f := range []string{"a.c.orig", "a.c.rej", "sub/b.c.orig", "sub/b.c.rej"} {
			if exists(filepath.Join(tree, f)) {
				t.Errorf("%s: patch left %s", step, f)
			}
		}
	}

	// A fresh extraction gets the patches.
	if err := run(pA, pNew); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	check("fresh", map[string]string{"a.c": patchedA, "new.c": "new\n", "sub/b.c": pristineB}, pA, pNew)
	if m, _ := readMarker(marker); len(m.files) != 2 || m.files[0] != (markedFile{"a.c", true}) || m.files[1] != (markedFile{"new.c", false}) {
		t.Errorf("marker files %+v", m.files)
	}
	// Nothing to do the second time.
	if err := run(pA, pNew); err != nil || log.String() != "" {
		t.Errorf("second extract: %v, log:\n%s", err, log.String())
	}

	// Another patch set: a.c comes back from the tarball with a new mtime
	// (what was built from the patched a.c must be rebuilt), new.c goes.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(tree, "a.c"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := run(pB); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	check("changed", map[string]string{"a.c": pristineA, "new.c": "", "sub/b.c": patchedB}, pB)
	if st, _ := os.Stat(filepath.Join(tree, "a.c")); !st.ModTime().After(old.Add(time.Minute)) {
		t.Errorf("restored a.c kept an old mtime %v", st.ModTime())
	}
	if strings.Contains(log.String(), "tar -xJf") || !strings.Contains(log.String(), "tar -xmJf") {
		t.Errorf("patch set change did not restore files (only):\n%s", log.String())
	}

	// No patches at all.
	if err := run(); err != nil {
		t.Fatal(err)
	}
	check("none", map[string]string{"a.c": pristineA, "sub/b.c": pristineB})

	// A marker from before patches (the identity alone, no newline) on an
	// unpatched tree: patched without extracting again.
	writeFile(t, marker, []byte("v1"))
	if err := run(pA); err != nil {
		t.Fatal(err)
	}
	check("legacy marker", map[string]string{"a.c": patchedA, "sub/b.c": pristineB}, pA)
	if strings.Contains(log.String(), "tar -x") {
		t.Errorf("legacy marker: tree extracted again:\n%s", log.String())
	}

	// A patch that does not apply fails, leaves the marker pending and b.c
	// untouched (dry run first)...
	err := run(pA, pBad)
	if err == nil || !strings.Contains(err.Error(), "0002-bad.patch does not apply") {
		t.Fatalf("bad patch: error %v", err)
	}
	if m, _ := readMarker(marker); !m.pending {
		t.Errorf("marker after a failed patch %+v, want pending", m)
	}
	if b, _ := os.ReadFile(filepath.Join(tree, "sub/b.c")); string(b) != pristineB {
		t.Errorf("failed patch changed b.c: %q", b)
	}
	// ... and the next run starts from the tarball's files again.
	writeFile(t, filepath.Join(tree, "a.c"), []byte("garbage\n"))
	if err := run(pA); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	check("after failure", map[string]string{"a.c": patchedA, "sub/b.c": pristineB}, pA)
}

func TestMarkerRoundTrip(t *testing.T) {
	m := extractMarker{identity: "tarball size=1 sha256=ab", pending: true,
		patches: []patchRecord{{"0001-a.patch", "11"}},
		files:   []markedFile{{"kernel/sched/ext.c", true}, {"new.c", false}}}
	p := filepath.Join(t.TempDir(), "m")
	writeFile(t, p, m.encode())
	got, err := readMarker(p)
	if err != nil || got.identity != m.identity || !got.pending || !sameRecords(got.patches, m.patches) ||
		len(got.files) != 2 || got.files[0] != m.files[0] || got.files[1] != m.files[1] {
		t.Errorf("round trip %+v, %v", got, err)
	}
	for _, bad := range []string{"id\nwhat\n", "id\npatch x\n", "id\nfile ../x\n", "id\nfile /etc/x\n"} {
		writeFile(t, p, []byte(bad))
		if _, err := readMarker(p); err == nil {
			t.Errorf("readMarker accepted %q", bad)
		}
	}
}

func TestTarballDigestMemo(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.tar.xz")
	writeFile(t, p, []byte("abc"))
	st, _ := os.Stat(p)
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if sum, err := tarballDigest(p, st, dir); err != nil || sum != abc {
		t.Fatalf("digest = %s, %v", sum, err)
	}
	// Same size and mtime: the memo answers, even though the content changed.
	writeFile(t, p, []byte("xyz"))
	if err := os.Chtimes(p, time.Time{}, st.ModTime()); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(p)
	if sum, _ := tarballDigest(p, st2, dir); sum != abc {
		t.Errorf("memo not used: %s", sum)
	}
	// A new mtime rehashes.
	if err := os.Chtimes(p, time.Time{}, st.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	st3, _ := os.Stat(p)
	if sum, _ := tarballDigest(p, st3, dir); sum == abc {
		t.Errorf("changed tarball kept its digest")
	}
}

func TestMissingSourceError(t *testing.T) {
	msg := errMissingSource().Error()
	for _, s := range []string{"apt-get install linux-source-6.12", "--source", "/usr/src/linux-source-6.12.tar.xz"} {
		if !strings.Contains(msg, s) {
			t.Errorf("%q lacks %q", msg, s)
		}
	}
}
