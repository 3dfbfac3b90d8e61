package scheduler

import "fmt"

type binaryKind int

const (
	eevdf binaryKind = iota
	discover
	path
)

// Binary says where a scheduler binary comes from. The zero value is EEVDF.
type Binary struct {
	kind binaryKind
	s    string
}

// EEVDF is the kernel's default scheduler: no sched_ext scheduler is loaded.
var EEVDF = Binary{}

// Discover finds the binary called name, searching in order: the file named
// by $KTSTR_SCHEDULER (when its base name is name, or when it is a
// directory holding name), the test binary's directory, PATH, and the
// project's scheduler cache (see `ktstr sched build`).
func Discover(name string) Binary { return Binary{kind: discover, s: name} }

// Path is the binary at p.
func Path(p string) Binary { return Binary{kind: path, s: p} }

// IsEEVDF reports whether b is EEVDF.
func (b Binary) IsEEVDF() bool { return b.kind == eevdf }

func (b Binary) String() string {
	switch b.kind {
	case discover:
		return fmt.Sprintf("Discover(%q)", b.s)
	case path:
		return fmt.Sprintf("Path(%q)", b.s)
	}
	return "EEVDF"
}
