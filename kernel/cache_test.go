package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeBzImage returns bytes that pass for a bzImage of the given release.
func fakeBzImage(release string) []byte {
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x20e:], 0x100) // version string at 0x300
	copy(b[0x300:], release+" (root@host) #1 SMP PREEMPT_DYNAMIC\x00")
	return b
}

var fakeELF = []byte("\x7fELF\x02\x01\x01\x00fake vmlinux")

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tempCache points the cache root at a new temporary directory and returns
// its kernels directory.
func tempCache(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	t.Setenv("KTSTR_CACHE_DIR", root)
	t.Setenv("KTSTR_KERNEL", "")
	return filepath.Join(root, "kernels")
}

// currentMeta returns the meta.json of an entry built by the current
// recipe from Debian's (patched) tarball.
func currentMeta(key string, built time.Time) meta {
	return meta{
		Key: key, Release: "6.12.57", Source: "test " + key, Built: built,
		Recipe: recipeVersion, FragmentSHA256: fragmentDigest(),
		Patches: records(recipePatches), RecipePatches: patchSetDigest(records(recipePatches)),
		WatchdogOverride: true,
	}
}

// makeEntry writes a complete fake cache entry of the current recipe.
func makeEntry(t *testing.T, kernels, key string, built time.Time) string {
	t.Helper()
	return makeEntryMeta(t, kernels, currentMeta(key, built))
}

// makeEntryMeta writes a fake cache entry with meta.json m, plus the
// records of its files.
func makeEntryMeta(t *testing.T, kernels string, m meta) string {
	t.Helper()
	dir := filepath.Join(kernels, m.Key)
	m.Files = map[string]fileRecord{}
	for name, data := range map[string][]byte{
		entryBzImage: fakeBzImage(m.Release),
		entryVmlinux: fakeELF,
		entryConfig:  []byte("CONFIG_SCHED_CLASS_EXT=y\n"),
	} {
		writeFile(t, filepath.Join(dir, name), data)
		sum := sha256.Sum256(data)
		m.Files[name] = fileRecord{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	}
	if err := writeMeta(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

// makeLegacyEntry writes a cache entry as recipe 1 did: no patches, no file
// records.
func makeLegacyEntry(t *testing.T, kernels, key string, built time.Time) string {
	t.Helper()
	dir := filepath.Join(kernels, key)
	writeFile(t, filepath.Join(dir, entryBzImage), fakeBzImage("6.12.57"))
	writeFile(t, filepath.Join(dir, entryVmlinux), fakeELF)
	writeFile(t, filepath.Join(dir, entryConfig), []byte("CONFIG_SCHED_CLASS_EXT=y\n"))
	legacy := []byte(`{"key":"` + key + `","release":"6.12.57","source":"test","fragment_sha256":"` + fragmentDigest() +
		`","recipe":"ktstr-kernel-recipe-1","built":"` + built.Format(time.RFC3339Nano) + `","build_seconds":1,"build_lines":1,"full_build":true}`)
	writeFile(t, filepath.Join(dir, entryMeta), legacy)
	return dir
}

func TestMetaRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := meta{
		Key: "0123456789abcdef", Release: "6.12.57", Source: "Debian linux-source-6.12 6.12.57-1",
		FragmentSHA256: "ff", Compiler: "gcc 12", Recipe: recipeVersion,
		Built: time.Date(2025, 11, 27, 14, 30, 0, 123, time.UTC), BuildSeconds: 587.5,
		BuildLines: 2900, FullBuild: true,
		Patches:       []patchRecord{{Name: "0001-x.patch", SHA256: "aa"}},
		RecipePatches: "bb", WatchdogOverride: true,
		Files: map[string]fileRecord{entryBzImage: {Size: 10, SHA256: "cc"}},
	}
	if err := writeMeta(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("meta round trip (-want +got):\n%s", diff)
	}
	writeFile(t, filepath.Join(dir, entryMeta), []byte("{"))
	if _, err := readMeta(dir); err == nil {
		t.Error("readMeta accepted broken JSON")
	}
}

func TestList(t *testing.T) {
	kernels := tempCache(t)
	if imgs, err := List(); err != nil || len(imgs) != 0 {
		t.Fatalf("List on a missing cache = %v, %v; want nothing, no error", imgs, err)
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	makeEntry(t, kernels, "1111111111111111", t0)
	makeEntry(t, kernels, "3333333333333333", t0.Add(2*time.Hour))
	makeEntry(t, kernels, "2222222222222222", t0.Add(time.Hour))
	// No meta.json: the bzImage's mtime counts.
	bare := filepath.Join(kernels, "4444444444444444")
	writeFile(t, filepath.Join(bare, entryBzImage), fakeBzImage("6.13.0"))
	if err := os.Chtimes(filepath.Join(bare, entryBzImage), t0, t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Skipped: no bzImage, a temporary directory, a plain file.
	writeFile(t, filepath.Join(kernels, "5555555555555555", entryMeta), []byte(`{"key":"5555555555555555"}`))
	writeFile(t, filepath.Join(kernels, ".tmp-6666666666666666-1", entryBzImage), fakeBzImage("6.12.57"))
	writeFile(t, filepath.Join(kernels, "stray"), nil)

	imgs, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, img := range imgs {
		keys = append(keys, img.Key)
	}
	want := []string{"3333333333333333", "4444444444444444", "2222222222222222", "1111111111111111"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("List order (-want +got):\n%s", diff)
	}
	if imgs[0].Release != "6.12.57" || imgs[0].Source != "test 3333333333333333" || imgs[0].Vmlinux == "" || imgs[0].Config == "" {
		t.Errorf("List()[0] = %+v: fields from meta.json missing", imgs[0])
	}
}

func TestStore(t *testing.T) {
	kernels := filepath.Join(t.TempDir(), "kernels")
	build := t.TempDir()
	writeFile(t, filepath.Join(build, "arch/x86/boot/bzImage"), fakeBzImage("6.12.57"))
	writeFile(t, filepath.Join(build, "vmlinux"), fakeELF)
	writeFile(t, filepath.Join(build, ".config"), []byte("CONFIG_X=y\n"))
	m := currentMeta("abcdefabcdefabcd", time.Now().UTC())
	for i := 0; i < 2; i++ { // the second store replaces the first
		img, err := store(kernels, build, m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := loadEntry(img.Dir); err != nil || got.Corrupt != "" {
			t.Fatalf("store left a bad entry in %s: %v %s", img.Dir, err, got.Corrupt)
		}
	}
	ents, _ := os.ReadDir(kernels)
	if len(ents) != 1 || ents[0].Name() != m.Key {
		t.Errorf("kernels dir holds %v, want only %s", ents, m.Key)
	}
	os.Remove(filepath.Join(build, "vmlinux"))
	if _, err := store(kernels, build, meta{Key: "0000000000000000"}); err == nil {
		t.Error("store without vmlinux succeeded")
	}
	if exists(filepath.Join(kernels, "0000000000000000")) {
		t.Error("failed store left an entry")
	}
}

// TestEntryVerdicts checks Stale and Corrupt for each way an entry can be
// out of date or damaged.
func TestEntryVerdicts(t *testing.T) {
	kernels := tempCache(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	otherFrag := currentMeta("2000000000000000", t0)
	otherFrag.FragmentSHA256 = "00"
	otherPatches := currentMeta("3000000000000000", t0)
	otherPatches.RecipePatches = patchSetDigest(nil)
	newer := currentMeta("4000000000000000", t0)
	newer.Recipe = "ktstr-kernel-recipe-9"
	tests := []struct {
		name                string
		setup               func() string
		wantStale, wantCorr string // substrings; "" means none
	}{
		{name: "current", setup: func() string { return makeEntry(t, kernels, "1000000000000000", t0) }},
		{name: "legacy", setup: func() string { return makeLegacyEntry(t, kernels, "1100000000000000", t0) },
			wantStale: "older recipe (ktstr-kernel-recipe-1; current ktstr-kernel-recipe-2)"},
		{name: "legacy, not a kernel", setup: func() string {
			d := makeLegacyEntry(t, kernels, "1200000000000000", t0)
			writeFile(t, filepath.Join(d, entryBzImage), []byte("#!/bin/sh\n"))
			return d
		}, wantStale: "older recipe", wantCorr: "is not a kernel image"},
		{name: "other fragment", setup: func() string { return makeEntryMeta(t, kernels, otherFrag) }, wantStale: "other fragment"},
		{name: "other patches", setup: func() string { return makeEntryMeta(t, kernels, otherPatches) },
			wantStale: "other patches (patch set sha256 " + short(patchSetDigest(nil))},
		{name: "newer recipe", setup: func() string { return makeEntryMeta(t, kernels, newer) }, wantStale: "newer recipe"},
		{name: "truncated bzImage", setup: func() string {
			d := makeEntry(t, kernels, "5000000000000000", t0)
			if err := os.Truncate(filepath.Join(d, entryBzImage), 0x300); err != nil {
				t.Fatal(err)
			}
			return d
		}, wantCorr: "bzImage is 768 bytes, meta.json records 1024 (truncated)"},
		{name: "bzImage content", setup: func() string {
			d := makeEntry(t, kernels, "5100000000000000", t0)
			b, _ := os.ReadFile(filepath.Join(d, entryBzImage))
			b[0x3ff] ^= 1
			writeFile(t, filepath.Join(d, entryBzImage), b)
			return d
		}, wantCorr: "bzImage has sha256"},
		{name: "config content", setup: func() string {
			d := makeEntry(t, kernels, "5200000000000000", t0)
			writeFile(t, filepath.Join(d, entryConfig), []byte("CONFIG_SCHED_CLASS_EXT=n\n"))
			return d
		}, wantCorr: "config has sha256"},
		{name: "missing vmlinux", setup: func() string {
			d := makeEntry(t, kernels, "5300000000000000", t0)
			os.Remove(filepath.Join(d, entryVmlinux))
			return d
		}, wantCorr: "vmlinux is missing"},
		{name: "vmlinux not ELF", setup: func() string {
			d := makeEntry(t, kernels, "5400000000000000", t0)
			writeFile(t, filepath.Join(d, entryVmlinux), bytes.Repeat([]byte("x"), len(fakeELF)))
			return d
		}, wantCorr: "vmlinux has no ELF header"},
		{name: "missing bzImage", setup: func() string {
			d := makeEntry(t, kernels, "5500000000000000", t0)
			os.Remove(filepath.Join(d, entryBzImage))
			return d
		}, wantCorr: "bzImage is missing"},
		{name: "no meta.json", setup: func() string {
			d := makeEntry(t, kernels, "5600000000000000", t0)
			os.Remove(filepath.Join(d, entryMeta))
			return d
		}, wantCorr: "meta.json is missing"},
		{name: "broken meta.json", setup: func() string {
			d := makeEntry(t, kernels, "5700000000000000", t0)
			writeFile(t, filepath.Join(d, entryMeta), []byte("{"))
			return d
		}, wantCorr: "meta.json: unexpected end of JSON input"},
		{name: "current without records", setup: func() string {
			d := makeEntry(t, kernels, "5800000000000000", t0)
			m, _ := readMeta(d)
			m.Files = nil
			if err := writeMeta(d, m); err != nil {
				t.Fatal(err)
			}
			return d
		}, wantCorr: "records no file sizes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup()
			img, err := loadEntry(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct{ field, got, want string }{{"Stale", img.Stale, tt.wantStale}, {"Corrupt", img.Corrupt, tt.wantCorr}} {
				if (f.want == "") != (f.got == "") || !strings.Contains(f.got, f.want) {
					t.Errorf("%s = %q, want %q", f.field, f.got, f.want)
				}
			}
			if tt.wantCorr != "" && !strings.HasSuffix(img.Corrupt, "(rebuild it with `ktstr kernel build --force`, or delete "+dir+")") {
				t.Errorf("Corrupt %q does not say how to fix it", img.Corrupt)
			}
			if img.Current() != (tt.wantStale == "" && tt.wantCorr == "") {
				t.Errorf("Current() = %v", img.Current())
			}
		})
	}
}

// TestStoreRecords checks the file records store writes, and that a failed
// store keeps the old entry.
func TestStoreRecords(t *testing.T) {
	kernels := filepath.Join(t.TempDir(), "kernels")
	build := t.TempDir()
	bz := fakeBzImage("6.12.57")
	writeFile(t, filepath.Join(build, "arch/x86/boot/bzImage"), bz)
	writeFile(t, filepath.Join(build, "vmlinux"), fakeELF)
	writeFile(t, filepath.Join(build, ".config"), []byte("CONFIG_X=y\n"))
	m := currentMeta("abcdefabcdefabcd", time.Now().UTC())
	img, err := store(kernels, build, m)
	if err != nil {
		t.Fatal(err)
	}
	if !img.Current() || !img.WatchdogOverride {
		t.Fatalf("stored entry %+v", img)
	}
	got, err := readMeta(img.Dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bz)
	if got.Files[entryBzImage] != (fileRecord{Size: int64(len(bz)), SHA256: hex.EncodeToString(sum[:])}) ||
		got.Files[entryVmlinux].Size != int64(len(fakeELF)) || got.Files[entryConfig].Size != 11 || len(got.Files) != 3 {
		t.Errorf("records %+v", got.Files)
	}
	if len(got.Patches) != len(recipePatches) || got.Patches[0].Name != watchdogPatch {
		t.Errorf("patches %+v", got.Patches)
	}
	// A store that fails halfway (no vmlinux) leaves the entry as it was.
	os.Remove(filepath.Join(build, "vmlinux"))
	m.Release = "6.99"
	if _, err := store(kernels, build, m); err == nil {
		t.Fatal("store without vmlinux succeeded")
	}
	if again, err := loadEntry(img.Dir); err != nil || !again.Current() || again.Release != "6.12.57" {
		t.Errorf("old entry after a failed store: %+v, %v", again, err)
	}
	if ents, _ := os.ReadDir(kernels); len(ents) != 1 {
		t.Errorf("kernels dir holds %v", ents)
	}
}
