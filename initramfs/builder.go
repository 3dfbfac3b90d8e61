package initramfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/u-root/u-root/pkg/cpio"
)

// ErrConflict is wrapped by the errors reporting two different entries at
// the same guest path, or an entry below something that is not a directory.
var ErrConflict = errors.New("conflicting entries")

// A Builder collects the entries of an initramfs. The zero value is an empty
// builder ready to use. A Builder is safe for concurrent use.
//
// Guest paths are slash-separated and taken relative to the guest's root: a
// leading slash is optional and removed, as are "." components and repeated
// slashes. Adding the same guest path twice is fine when both entries are
// identical.
//
// AddBytes, AddDir and AddSymlink do not return errors; an invalid path or a
// conflict they meet is kept and returned by [Builder.Err], [Builder.Hash],
// [Builder.WriteTo] and [Builder.Cached].
type Builder struct {
	mu      sync.Mutex
	entries map[string]*entry // files and symlinks, by normalized guest path
	dirs    map[string]uint32 // explicit directories: guest path -> permission bits
	errs    []error           // deferred errors of the Add methods without a result
}

// New returns an empty Builder.
func New() *Builder { return &Builder{} }

type kind uint8

const (
	kindFile kind = iota + 1
	kindDir
	kindSymlink
)

// entry is one file, directory or symlink of the archive.
type entry struct {
	kind kind
	perm uint32 // permission and set-id/sticky bits (07777); 0777 for symlinks

	// Files: contents are data when host is empty, else the host file,
	// which had size bytes with this sha256 when it was added.
	host string
	data []byte
	size int64
	sum  [sha256.Size]byte

	target string // symlinks
}

// implicitDir is the entry of a parent directory nobody added explicitly.
var implicitDir = &entry{kind: kindDir, perm: 0o755}

// same reports whether e and o produce the same archive record.
func (e *entry) same(o *entry) bool {
	return e.kind == o.kind && e.perm == o.perm && e.size == o.size &&
		e.sum == o.sum && e.target == o.target
}

func (e *entry) String() string {
	switch e.kind {
	case kindDir:
		return fmt.Sprintf("directory mode %#o", e.perm)
	case kindSymlink:
		return fmt.Sprintf("symlink to %q", e.target)
	}
	src := "bytes"
	if e.host != "" {
		src = "host file " + e.host
	}
	return fmt.Sprintf("file mode %#o, %d bytes, sha256 %s (%s)",
		e.perm, e.size, hex.EncodeToString(e.sum[:6]), src)
}

// unixPerm converts the permission and special bits of m to their Unix
// encoding; type bits are ignored. The Unix bits 0o7000, unused by
// os.FileMode, are taken as set-uid, set-gid and sticky too, so that 0o1777
// means what it does to chmod(1).
func unixPerm(m os.FileMode) uint32 {
	p := uint32(m & 0o7777)
	if m&os.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// normalize turns a guest path into the archive name of its record.
func normalize(guestPath string) (string, error) {
	if guestPath == "" {
		return "", errors.New("empty guest path")
	}
	if strings.IndexByte(guestPath, 0) >= 0 {
		return "", fmt.Errorf("guest path %q contains a NUL byte", guestPath)
	}
	name := cpio.Normalize(guestPath)
	switch {
	case name == ".":
		return "", fmt.Errorf("guest path %q is the root directory", guestPath)
	case name == ".." || strings.HasPrefix(name, "../"):
		return "", fmt.Errorf("guest path %q is outside the root directory", guestPath)
	case name == cpio.Trailer:
		return "", fmt.Errorf("guest path %q is the cpio trailer's name", guestPath)
	}
	return name, nil
}

// AddFile adds the regular file at hostPath (symlinks followed) as guestPath,
// with its permission bits. The file is read once now to hash it, and again
// when the archive is written.
func (b *Builder) AddFile(guestPath, hostPath string) error {
	name, err := normalize(guestPath)
	if err != nil {
		return fmt.Errorf("initramfs: add file %s: %w", guestPath, err)
	}
	e, err := hashHostFile(hostPath) // without holding the lock
	if err != nil {
		return fmt.Errorf("initramfs: add file %s: %w", guestPath, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.put(name, e); err != nil {
		return fmt.Errorf("initramfs: add file %s: %w", guestPath, err)
	}
	return nil
}

// hashHostFile returns the file entry of the regular file at hostPath.
func hashHostFile(hostPath string) (*entry, error) {
	f, err := os.Open(hostPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", hostPath, fi.Mode().Type())
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", hostPath, err)
	}
	if n > math.MaxUint32 {
		return nil, fmt.Errorf("%s: %d bytes is more than a newc archive can hold", hostPath, n)
	}
	e := &entry{kind: kindFile, perm: unixPerm(fi.Mode()), host: hostPath, size: n}
	h.Sum(e.sum[:0])
	return e, nil
}

// AddBytes adds a regular file with the given contents and permission bits.
// Type bits of mode are ignored; set-id and sticky bits are taken from
// os.ModeSetuid, os.ModeSetgid and os.ModeSticky or from the Unix bits
// 0o7000. data is copied.
func (b *Builder) AddBytes(guestPath string, data []byte, mode os.FileMode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := func() error {
		name, err := normalize(guestPath)
		if err != nil {
			return err
		}
		if int64(len(data)) > math.MaxUint32 {
			return fmt.Errorf("%d bytes is more than a newc archive can hold", len(data))
		}
		e := &entry{kind: kindFile, perm: unixPerm(mode), data: append([]byte{}, data...), size: int64(len(data))}
		e.sum = sha256.Sum256(data)
		return b.put(name, e)
	}()
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("initramfs: add bytes %s: %w", guestPath, err))
	}
}

// AddDir adds a directory with the given permission bits, taken from mode as
// by [Builder.AddBytes] (os.ModeSticky|0o777 and 0o1777 are the same).
// Missing parent directories of every entry get mode 0755; AddDir is needed
// only for other modes and for empty directories. A directory added at the
// path of a symlink applies to the symlink's target.
func (b *Builder) AddDir(guestPath string, mode os.FileMode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := func() error {
		name, err := normalize(guestPath)
		if err != nil {
			return err
		}
		perm := unixPerm(mode)
		if e, ok := b.entries[name]; ok && e.kind == kindFile {
			return fmt.Errorf("%w: directory mode %#o vs %v", ErrConflict, perm, e)
		}
		if old, ok := b.dirs[name]; ok && old != perm {
			return fmt.Errorf("%w: directory mode %#o vs directory mode %#o", ErrConflict, perm, old)
		}
		if b.dirs == nil {
			b.dirs = make(map[string]uint32)
		}
		b.dirs[name] = perm
		return nil
	}()
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("initramfs: add directory %s: %w", guestPath, err))
	}
}

// AddSymlink adds a symbolic link to target, which is stored verbatim: an
// absolute target resolves from the guest's root.
func (b *Builder) AddSymlink(guestPath, target string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.addSymlink(guestPath, target); err != nil {
		b.errs = append(b.errs, fmt.Errorf("initramfs: add symlink %s: %w", guestPath, err))
	}
}

func (b *Builder) addSymlink(guestPath, target string) error {
	name, err := normalize(guestPath)
	if err != nil {
		return err
	}
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("invalid symlink target %q", target)
	}
	return b.put(name, &entry{kind: kindSymlink, perm: 0o777, target: target, size: int64(len(target))})
}

// put records e at name unless an identical entry is already there.
func (b *Builder) put(name string, e *entry) error {
	if old, ok := b.entries[name]; ok {
		if old.same(e) {
			return nil
		}
		return fmt.Errorf("%w: %v vs %v", ErrConflict, e, old)
	}
	if perm, ok := b.dirs[name]; ok && e.kind == kindFile {
		return fmt.Errorf("%w: %v vs directory mode %#o", ErrConflict, e, perm)
	}
	if b.entries == nil {
		b.entries = make(map[string]*entry)
	}
	b.entries[name] = e
	return nil
}

// Err returns the errors met by AddBytes, AddDir and AddSymlink so far,
// joined, or nil.
func (b *Builder) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return errors.Join(b.errs...)
}
