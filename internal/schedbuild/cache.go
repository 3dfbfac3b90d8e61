package schedbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/hostbuild"
	"github.com/ktstr-go/ktstr/kernel"
)

// The scheduler cache holds one entry per kernel:
//
//	<cache root>/schedulers/<kernel key>/            scx_simple, scx_qmap, scx_central,
//	                                                 scx_flatcg, scx_fixture, meta.json
//	<cache root>/schedulers/<kernel key>.lock        held while a build writes that entry
//	<cache root>/build/sched_ext-<kernel key>/       make's O= (libbpf, bpftool, objects)
//	                                                 and ktstr-sched-build.log
//
// An entry is written to a temporary directory and renamed into place, so an
// entry directory always holds every binary its meta.json lists.

// Names of the kernel tree's own sched_ext schedulers (tools/sched_ext), in
// the order Build returns them.
var kernelSchedulers = []string{"scx_simple", "scx_qmap", "scx_central", "scx_flatcg"}

// fixtureName is the project's own fixture scheduler.
const fixtureName = "scx_fixture"

// entryMetaName is the name of an entry's description.
const entryMetaName = "meta.json"

// entryMeta is an entry's meta.json.
type entryMeta struct {
	KernelKey     string    `json:"kernel_key"`
	KernelRelease string    `json:"kernel_release,omitempty"`
	KernelSource  string    `json:"kernel_source,omitempty"`
	Vmlinux       string    `json:"vmlinux,omitempty"`
	Source        string    `json:"source"`
	Built         time.Time `json:"built"`
	BuildSeconds  float64   `json:"build_seconds"`
	// Schedulers lists the binaries in the entry, scx_fixture included
	// once it has been built into it.
	Schedulers   []string  `json:"schedulers"`
	FixtureBuilt time.Time `json:"fixture_built,omitzero"`
}

// Built is one scheduler binary that [Build] built or found in the cache.
type Built struct {
	// Name is the scheduler's name, the binary's base name (scx_simple).
	Name string
	// Path is the binary's absolute path in the cache.
	Path string
}

// Entry is the scheduler cache entry of one kernel.
type Entry struct {
	// Key is the entry's directory name: the kernel's cache key (see
	// [EntryKey]).
	Key string
	// Dir is the entry directory.
	Dir string
	// KernelRelease is the release of the kernel the schedulers were built
	// against, or "".
	KernelRelease string
	// KernelSource describes what that kernel was built from.
	KernelSource string
	// Source is the kernel source tree the schedulers were built from.
	Source string
	// Built is when the entry was written.
	Built time.Time
	// Schedulers are the binaries in the entry.
	Schedulers []Built
}

// CacheDir returns <cache root>/schedulers, the scheduler cache. It does not
// create it.
func CacheDir() (string, error) {
	d, err := cachedir.Sub("schedulers", false)
	if err != nil {
		return "", err
	}
	return filepath.Abs(d)
}

// EntryKey returns the name of the scheduler cache entry for img: its
// kernel cache key, or for a kernel outside the kernel cache "ext-" and a
// hash of its vmlinux's (else bzImage's) path, size and mtime.
func EntryKey(img kernel.Image) string {
	if img.Key != "" {
		return img.Key
	}
	p := img.Vmlinux
	if p == "" {
		p = img.BzImage
	}
	id := p
	if st, err := os.Stat(p); err == nil {
		id = fmt.Sprintf("%s\x00%d\x00%d", p, st.Size(), st.ModTime().UnixNano())
	}
	sum := sha256.Sum256([]byte(id))
	return "ext-" + hex.EncodeToString(sum[:])[:16]
}

// List returns the scheduler cache entries, newest first. Entries without a
// readable meta.json are skipped; an empty or missing cache is no error.
func List() ([]Entry, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, fmt.Errorf("sched list: %w", err)
	}
	entries, err := ListDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sched list: %w", err)
	}
	return entries, nil
}

// ListDir returns the scheduler cache entries under dir, newest first.
func ListDir(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if ent, _, err := loadEntry(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, ent)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Built.Equal(out[j].Built) {
			return out[i].Built.After(out[j].Built)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// loadEntry reads the entry in dir. Binaries that meta.json lists but that
// are missing or not executable are left out of Schedulers.
func loadEntry(dir string) (Entry, entryMeta, error) {
	m, err := readEntryMeta(dir)
	if err != nil {
		return Entry{}, m, err
	}
	e := Entry{
		Key: filepath.Base(dir), Dir: dir, KernelRelease: m.KernelRelease,
		KernelSource: m.KernelSource, Source: m.Source, Built: m.Built,
	}
	for _, name := range m.Schedulers {
		p := filepath.Join(dir, name)
		if IsExecutable(p) {
			e.Schedulers = append(e.Schedulers, Built{Name: name, Path: p})
		}
	}
	return e, m, nil
}

// completeEntry returns the entry in dir when its meta.json is readable and
// every kernel scheduler is present.
func completeEntry(dir string) (Entry, entryMeta, bool) {
	e, m, err := loadEntry(dir)
	if err != nil {
		return Entry{}, m, false
	}
	have := map[string]bool{}
	for _, b := range e.Schedulers {
		have[b.Name] = true
	}
	for _, name := range kernelSchedulers {
		if !have[name] {
			return Entry{}, m, false
		}
	}
	return e, m, true
}

func readEntryMeta(dir string) (entryMeta, error) {
	var m entryMeta
	b, err := os.ReadFile(filepath.Join(dir, entryMetaName))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, entryMetaName), err)
	}
	return m, nil
}

// writeEntryMeta writes dir/meta.json atomically.
func writeEntryMeta(dir string, m entryMeta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return hostbuild.WriteFileAtomic(filepath.Join(dir, entryMetaName), append(b, '\n'), 0o644)
}

// storeEntry copies the binaries (name to built file) and meta.json into
// cache/key, atomically (hostbuild.StoreDir), replacing an older entry with
// that key.
func storeEntry(cache, key string, bins map[string]string, m entryMeta) (Entry, error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Entry{}, err
	}
	final, err := hostbuild.StoreDir(cache, key, func(tmp string) error {
		m.Schedulers = nil
		for _, name := range kernelSchedulers {
			src, ok := bins[name]
			if !ok {
				continue
			}
			if err := hostbuild.CopyFile(filepath.Join(tmp, name), src, 0o755); err != nil {
				return err
			}
			m.Schedulers = append(m.Schedulers, name)
		}
		return writeEntryMeta(tmp, m)
	})
	if err != nil {
		return Entry{}, err
	}
	e, _, err := loadEntry(final)
	return e, err
}

// installFixture moves the freshly built fixture binary src into the entry
// dir (replacing the old one with a rename, and only when it changed) and
// records it in meta.json. It reports whether the entry's binary changed.
func installFixture(dir, src string) (bool, error) {
	m, err := readEntryMeta(dir)
	if err != nil {
		return false, err
	}
	dst := filepath.Join(dir, fixtureName)
	changed := !sameContent(src, dst)
	if changed {
		if err := os.Chmod(src, 0o755); err != nil {
			return false, err
		}
		if err := os.Rename(src, dst); err != nil {
			return false, err
		}
	}
	listed := false
	for _, n := range m.Schedulers {
		listed = listed || n == fixtureName
	}
	if !listed {
		m.Schedulers = append(m.Schedulers, fixtureName)
	}
	if changed || !listed || m.FixtureBuilt.IsZero() {
		m.FixtureBuilt = time.Now().UTC()
		if err := writeEntryMeta(dir, m); err != nil {
			return false, err
		}
	}
	return changed, nil
}

// sameContent reports whether files a and b both exist with equal bytes.
func sameContent(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil || sa.Size() != sb.Size() {
		return false
	}
	da, err1 := os.ReadFile(a)
	db, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && string(da) == string(db)
}

// IsExecutable reports whether p is a regular file (after symlinks) with an
// execute bit set.
func IsExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
