package kernel

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedPatches(t *testing.T) {
	if len(recipePatches) == 0 || recipePatches[0].name != watchdogPatch {
		t.Fatalf("embedded patches = %v, want %s first", records(recipePatches), watchdogPatch)
	}
	p := recipePatches[0]
	if len(p.files) != 1 || p.files[0] != "kernel/sched/ext.c" {
		t.Errorf("%s changes %v, want kernel/sched/ext.c", p.name, p.files)
	}
	for _, s := range []string{"watchdog_override_ms", "ktstr override; ops.timeout_ms=%u"} {
		if !bytes.Contains(p.data, []byte(s)) {
			t.Errorf("%s lacks %q", p.name, s)
		}
	}
	if len(p.sum) != 64 {
		t.Errorf("sum %q", p.sum)
	}
}

func TestStaleInt3Patch(t *testing.T) {
	i := slices.IndexFunc(recipePatches, func(p kpatch) bool { return p.name == StaleInt3Patch })
	if i < 0 {
		t.Fatalf("embedded patches = %v, want %s", records(recipePatches), StaleInt3Patch)
	}
	p := recipePatches[i]
	if len(p.files) != 1 || p.files[0] != "arch/x86/kernel/traps.c" {
		t.Errorf("%s changes %v, want arch/x86/kernel/traps.c", p.name, p.files)
	}
	for _, s := range []string{"static noinline bool " + StaleInt3Func + "(", "!do_int3(regs) && !" + StaleInt3Func + "(regs)"} {
		if !bytes.Contains(p.data, []byte(s)) {
			t.Errorf("%s lacks %q", p.name, s)
		}
	}
}

func TestNewPatch(t *testing.T) {
	fsys := fstest.MapFS{
		"p/0002-b.patch": {Data: []byte("--- /dev/null\n+++ b/new/file.c\t2025-01-01\n@@ -0,0 +1 @@\n+x\n")},
		"p/0001-a.patch": {Data: []byte("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n--- a/gone.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n")},
		"p/README":       {Data: []byte("not a patch")},
	}
	ps, err := loadPatches(fsys, "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].name != "0001-a.patch" || ps[1].name != "0002-b.patch" {
		t.Fatalf("patches %v", records(ps))
	}
	if got := strings.Join(ps[0].files, ","); got != "gone.c,x.c" {
		t.Errorf("0001 files %s", got)
	}
	if got := strings.Join(ps[1].files, ","); got != "new/file.c" {
		t.Errorf("0002 files %s", got)
	}
	for name, data := range map[string]string{
		"empty.patch":  "just text\n",
		"escape.patch": "--- a/../etc/passwd\n+++ b/../etc/passwd\n",
		"abs.patch":    "--- /etc/passwd\n+++ /etc/passwd\n",
		"a b.patch":    "--- a/x\n+++ b/x\n",
	} {
		if _, err := newPatch(name, []byte(data)); err == nil {
			t.Errorf("newPatch(%s) accepted %q", name, data)
		}
	}
}

func TestPatchSetDigest(t *testing.T) {
	a := []patchRecord{{"0001-a.patch", "11"}, {"0002-b.patch", "22"}}
	b := []patchRecord{{"0002-b.patch", "22"}, {"0001-a.patch", "11"}}
	if patchSetDigest(a) == patchSetDigest(b) || patchSetDigest(a) == patchSetDigest(nil) {
		t.Error("digest ignores order or content")
	}
	if !sameRecords(a, append([]patchRecord(nil), a...)) || sameRecords(a, b) || sameRecords(a, nil) {
		t.Error("sameRecords")
	}
}

func TestWatchdogOverrideDetection(t *testing.T) {
	tree := fakeTree(t)
	if hasWatchdogOverride(tree) {
		t.Error("fake tree without the patch detected as patched")
	}
	writeFile(t, tree+"/kernel/sched/ext.c", []byte("static unsigned int scx_watchdog_override_ms;\nmodule_param_named(watchdog_override_ms, ...);\n"))
	if !hasWatchdogOverride(tree) {
		t.Error("patched tree not detected")
	}
	note := noOverrideNote(tree)
	for _, s := range []string{tree, "WatchdogTimeoutS will not apply", "kernel/patches/0001-sched_ext-watchdog-override.patch", "patch -p1"} {
		if !strings.Contains(note, s) {
			t.Errorf("note %q lacks %q", note, s)
		}
	}
}
