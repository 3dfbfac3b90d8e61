package kernel

import (
	"encoding/binary"
	"os"
	"path/filepath"
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

// makeEntry writes a complete fake cache entry.
func makeEntry(t *testing.T, kernels, key string, built time.Time) string {
	t.Helper()
	dir := filepath.Join(kernels, key)
	writeFile(t, filepath.Join(dir, entryBzImage), fakeBzImage("6.12.57"))
	writeFile(t, filepath.Join(dir, entryVmlinux), fakeELF)
	writeFile(t, filepath.Join(dir, entryConfig), []byte("CONFIG_SCHED_CLASS_EXT=y\n"))
	if err := writeMeta(dir, meta{Key: key, Release: "6.12.57", Source: "test " + key, Built: built}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMetaRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := meta{
		Key: "0123456789abcdef", Release: "6.12.57", Source: "Debian linux-source-6.12 6.12.57-1",
		FragmentSHA256: "ff", Compiler: "gcc 12", Recipe: recipeVersion,
		Built: time.Date(2025, 11, 27, 14, 30, 0, 123, time.UTC), BuildSeconds: 587.5,
		BuildLines: 2900, FullBuild: true,
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
	m := meta{Key: "abcdefabcdefabcd", Release: "6.12.57", Built: time.Now().UTC()}
	for i := 0; i < 2; i++ { // the second store replaces the first
		img, err := store(kernels, build, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := completeEntry(img.Dir); !ok {
			t.Fatalf("store left an incomplete entry in %s", img.Dir)
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
