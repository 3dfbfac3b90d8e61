// Package tail keeps the last lines of a stream: console output, a
// process's log. Failures quote them.
package tail

import (
	"bufio"
	"io"
	"strings"
	"sync"
)

// Lines keeps the last n lines added. It is safe for concurrent use.
type Lines struct {
	mu   sync.Mutex
	buf  []string
	next int
	full bool
}

// New returns a Lines keeping n lines (at least 1).
func New(n int) *Lines {
	if n < 1 {
		n = 1
	}
	return &Lines{buf: make([]string, n)}
}

// Add appends a line.
func (t *Lines) Add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf[t.next] = line
	t.next = (t.next + 1) % len(t.buf)
	if t.next == 0 {
		t.full = true
	}
}

// Lines returns the kept lines, oldest first.
func (t *Lines) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]string(nil), t.buf[:t.next]...)
	}
	return append(append([]string(nil), t.buf[t.next:]...), t.buf[:t.next]...)
}

// String returns the kept lines joined by newlines.
func (t *Lines) String() string { return strings.Join(t.Lines(), "\n") }

// Follow reads r line by line until EOF, adding each line (carriage returns
// trimmed) and passing it to each, if not nil. It closes nothing.
func (t *Lines) Follow(r io.Reader, each func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		t.Add(line)
		if each != nil {
			each(line)
		}
	}
}
