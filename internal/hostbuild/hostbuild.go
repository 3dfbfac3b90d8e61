// Package hostbuild is for running host build tools (make, go, apt-get) in
// their own process groups, and storing their products in the cache
// atomically. Packages kernel and scheduler build with it.
package hostbuild

import (
	"fmt"
	"io"
)

// Reporter prints one line per phase of a build to W, when W is not nil.
// Each line is Prefix (printed literally, e.g. "ktstr: kernel: ") followed
// by the formatted message.
type Reporter struct {
	W      io.Writer
	Prefix string
}

// Phase prints a phase line: Prefix, then format with args, then a newline,
// in one write.
func (r Reporter) Phase(format string, args ...any) {
	if r.W != nil {
		io.WriteString(r.W, r.Prefix+fmt.Sprintf(format, args...)+"\n")
	}
}
