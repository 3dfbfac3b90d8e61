package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
)

// The kernel patches ktstr applies, in file name order, to the source tree
// it extracts from Debian's tarball. A user's tree (BuildOptions.Source) is
// never patched.
//
//go:embed patches/*.patch
var patchFiles embed.FS

// kpatch is one kernel patch, applied with patch -p1.
type kpatch struct {
	name string // file name, e.g. 0001-sched_ext-watchdog-override.patch
	data []byte
	sum  string // sha256 of data, hex
	// files are the paths, relative to the tree, that the patch changes,
	// creates or deletes, sorted.
	files []string
}

// recipePatches are the embedded patches, in order.
var recipePatches = mustLoadPatches()

func mustLoadPatches() []kpatch {
	ps, err := loadPatches(patchFiles, "patches")
	if err != nil {
		panic("kernel: embedded patches: " + err.Error())
	}
	return ps
}

// loadPatches reads the *.patch files of dir in fsys, in name order.
func loadPatches(fsys fs.FS, dir string) ([]kpatch, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ps []kpatch
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".patch") {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		p, err := newPatch(e.Name(), data)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].name < ps[j].name })
	return ps, nil
}

// newPatch describes the unified diff data named name.
func newPatch(name string, data []byte) (kpatch, error) {
	if strings.ContainsAny(name, " \n/") {
		return kpatch{}, fmt.Errorf("patch name %q: no spaces or slashes", name)
	}
	sum := sha256.Sum256(data)
	p := kpatch{name: name, data: data, sum: hex.EncodeToString(sum[:])}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		var rest string
		switch {
		case strings.HasPrefix(line, "--- "):
			rest = line[4:]
		case strings.HasPrefix(line, "+++ "):
			rest = line[4:]
		default:
			continue
		}
		f, _, _ := strings.Cut(rest, "\t")
		f = strings.TrimSpace(f)
		if f == "/dev/null" {
			continue
		}
		// -p1: drop the first component (a/, b/).
		abs := strings.HasPrefix(f, "/")
		_, f, ok := strings.Cut(f, "/")
		f = path.Clean(f)
		if !ok || abs || f == "." || strings.HasPrefix(f, "../") || path.IsAbs(f) || strings.ContainsAny(f, " \n") {
			return kpatch{}, fmt.Errorf("patch %s: file name %q: not a relative path under a -p1 prefix", name, rest)
		}
		if !seen[f] {
			seen[f] = true
			p.files = append(p.files, f)
		}
	}
	if len(p.files) == 0 {
		return kpatch{}, fmt.Errorf("patch %s changes no file", name)
	}
	sort.Strings(p.files)
	return p, nil
}

// patchRecord names a patch in meta.json and in the extraction marker.
type patchRecord struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// records returns the name and sha256 of each patch.
func records(ps []kpatch) []patchRecord {
	rs := make([]patchRecord, 0, len(ps))
	for _, p := range ps {
		rs = append(rs, patchRecord{Name: p.name, SHA256: p.sum})
	}
	return rs
}

// patchSetDigest is the sha256 over the names and sha256s of the patches
// in order: it identifies a patch set in meta.json.
func patchSetDigest(rs []patchRecord) string {
	h := sha256.New()
	for _, r := range rs {
		fmt.Fprintf(h, "%s %s\n", r.Name, r.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sameRecords reports whether a and b name the same patches in order.
func sameRecords(a, b []patchRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// patchBytes is the patch set as one part of the cache key: each patch's
// name and content, length-prefixed.
func patchBytes(ps []kpatch) []byte {
	var b bytes.Buffer
	for _, p := range ps {
		fmt.Fprintf(&b, "%d:%s%d:", len(p.name), p.name, len(p.data))
		b.Write(p.data)
	}
	return b.Bytes()
}

// applyPatch applies p to tree with patch -p1, after a dry run, so that a
// patch that does not apply leaves the tree as it was.
func applyPatch(ctx context.Context, tree string, p kpatch, log io.Writer) error {
	args := []string{"-p1", "--forward", "--batch", "--no-backup-if-mismatch", "--reject-file=-"}
	for _, dry := range []bool{true, false} {
		a := args
		if dry {
			a = append(append([]string(nil), args...), "--dry-run")
		}
		fmt.Fprintf(log, "\n$ cd %s && patch %s < %s\n", tree, strings.Join(a, " "), p.name)
		cmd := hostbuild.Command(ctx, tree, "patch", a...)
		cmd.Stdin = bytes.NewReader(p.data)
		var out strings.Builder
		err := hostbuild.Run(ctx, cmd, io.MultiWriter(log, &out))
		if err != nil {
			return fmt.Errorf("patch %s does not apply to %s: %w\n%s", p.name, tree, err, hostbuild.LastLines(out.String(), 20))
		}
	}
	return nil
}

// watchdogPatch is the patch that adds sched_ext.watchdog_override_ms.
const watchdogPatch = "0001-sched_ext-watchdog-override.patch"

// StaleInt3Patch makes the guest kernel resume, rather than die, on an
// INT3 its live patching already replaced, which emulated CPUs (QEMU's
// TCG) can still execute: without it, attaching or detaching a probe on
// kernel code another vCPU is running can oops a TCG guest. A kernel that
// has it has the function StaleInt3Func (in vmlinux's symbols).
const (
	StaleInt3Patch = "0002-x86-int3-stale-under-emulation.patch"
	StaleInt3Func  = "ktstr_int3_stale"
)

// hasWatchdogOverride reports whether the kernel tree carries the sched_ext
// watchdog override (kernel/sched/ext.c mentions watchdog_override_ms).
func hasWatchdogOverride(tree string) bool {
	b, err := os.ReadFile(filepath.Join(tree, "kernel/sched/ext.c"))
	return err == nil && bytes.Contains(b, []byte("watchdog_override_ms"))
}

// noOverrideNote is the build line for a tree without the override.
func noOverrideNote(tree string) string {
	return fmt.Sprintf("the sched_ext watchdog override patch is not in %s: WatchdogTimeoutS will not apply "+
		"to this kernel (tests say so); apply kernel/patches/%s (in the ktstr module) with `patch -p1`", tree, watchdogPatch)
}
