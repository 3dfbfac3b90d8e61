package initramfs

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// layout is the resolved content of the archive: every record, keyed by its
// archive name, with no record below a symlink record and every parent
// directory present.
type layout struct {
	nodes   map[string]*node
	pending map[string]*entry // files and symlinks not placed yet, by added name
	names   []string          // keys of nodes in archive order, once built
}

// node is one record of a layout.
type node struct {
	e        *entry
	implicit bool   // a parent directory nobody added
	from     string // the name the entry was added as, or that implied the directory
}

// layout resolves the builder's entries. It is a function of the set of
// entries only: symlinks are placed first, then directories, then files,
// each group in archive order, and a symlink or file is placed as soon as
// the resolution of another path meets it.
func (b *Builder) layout() (*layout, error) {
	if err := errors.Join(b.errs...); err != nil {
		return nil, err
	}
	l := &layout{nodes: make(map[string]*node), pending: maps.Clone(b.entries)}
	var links, files []string
	for name, e := range b.entries {
		if e.kind == kindSymlink {
			links = append(links, name)
		} else {
			files = append(files, name)
		}
	}
	slices.SortFunc(links, comparePaths)
	slices.SortFunc(files, comparePaths)
	dirs := slices.SortedFunc(maps.Keys(b.dirs), comparePaths)

	var errs []error
	for _, name := range links {
		errs = append(errs, l.placePending(name))
	}
	for _, name := range dirs {
		errs = append(errs, l.placeDir(name, b.dirs[name]))
	}
	for _, name := range files {
		errs = append(errs, l.placePending(name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	l.names = slices.SortedFunc(maps.Keys(l.nodes), comparePaths)
	return l, nil
}

// placePending places the file or symlink added as name, unless it is
// placed already.
func (l *layout) placePending(name string) error {
	e, ok := l.pending[name]
	if !ok {
		return nil
	}
	delete(l.pending, name)
	return l.placeLeaf(name, e)
}

// placeLeaf places the file or symlink e added as name in the resolved
// parent directory of name.
func (l *layout) placeLeaf(name string, e *entry) error {
	depth := 0
	dir, base := path.Split(name)
	parent, err := l.walk("", dir, name, &depth)
	if err != nil {
		return fmt.Errorf("/%s: %w", name, err)
	}
	at := join(parent, base)
	if n, ok := l.nodes[at]; ok {
		if n.e.same(e) {
			return nil
		}
		return conflict(at, name, e, n)
	}
	l.nodes[at] = &node{e: e, from: name}
	return nil
}

// placeDir applies the directory added as name, following a symlink at
// name itself.
func (l *layout) placeDir(name string, perm uint32) error {
	depth := 0
	at, err := l.walk("", name, name, &depth)
	if err != nil {
		return fmt.Errorf("/%s: %w", name, err)
	}
	n, ok := l.nodes[at]
	if !ok {
		return nil // the root: its mode is not part of the archive
	}
	if n.implicit {
		*n = node{e: &entry{kind: kindDir, perm: perm}, from: name}
		return nil
	}
	if n.e.perm != perm {
		return conflict(at, name, &entry{kind: kindDir, perm: perm}, n)
	}
	return nil
}

// walk resolves the slash-separated path p, relative to the resolved
// directory dir, to a directory, as the kernel's path walk would once the
// archive is unpacked: symlinks are followed (an absolute target from the
// root, "" in a layout) and missing directories are created as implicit
// nodes, on behalf of the entry added as name.
func (l *layout) walk(dir, p, name string, depth *int) (string, error) {
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if i := strings.LastIndexByte(dir, '/'); i >= 0 {
				dir = dir[:i]
			} else {
				dir = ""
			}
			continue
		}
		next := join(dir, c)
		if _, ok := l.nodes[next]; !ok {
			if err := l.placePending(next); err != nil {
				return "", err
			}
		}
		n, ok := l.nodes[next]
		if !ok {
			l.nodes[next] = &node{e: implicitDir, implicit: true, from: name}
			dir = next
			continue
		}
		switch n.e.kind {
		case kindDir:
			dir = next
		case kindSymlink:
			if *depth++; *depth > maxSymlinks {
				return "", fmt.Errorf("/%s: too many levels of symbolic links", next)
			}
			start := dir
			if strings.HasPrefix(n.e.target, "/") {
				start = ""
			}
			var err error
			if dir, err = l.walk(start, n.e.target, name, depth); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("%w: /%s is a file (added as /%s), not a directory", ErrConflict, next, n.from)
		}
	}
	return dir, nil
}

func conflict(at, name string, e *entry, n *node) error {
	where := "/" + at
	if at != name {
		where += " (added as /" + name + ")"
	}
	old := n.e.String()
	switch {
	case n.implicit:
		old += " implied by /" + n.from
	case n.from != at:
		old += " added as /" + n.from
	}
	return fmt.Errorf("%s: %w: %v vs %s", where, ErrConflict, e, old)
}

// join joins a resolved directory ("" for the root) and a name.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// comparePaths orders archive names byte-wise with '/' first, so that a
// directory comes right before its contents ("a", "a/b", "a-b").
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		switch {
		case ca == cb:
			continue
		case ca == '/':
			return -1
		case cb == '/':
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}
