// Package tail reads streams line by line within a memory bound and keeps
// the last lines of them: console output, a process's log. Failures quote
// them. Nothing a guest prints can make it allocate more than the bounds
// given: long lines are cut, and reading goes on.
package tail

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"sync"
)

// Lines keeps the last n lines added. It is safe for concurrent use.
type Lines struct {
	mu        sync.Mutex
	buf       []string
	next      int
	full      bool
	added     int
	truncated int
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
	t.added++
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

// Added returns how many lines were added in all, kept or not.
func (t *Lines) Added() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.added
}

// Truncated returns how many lines Follow cut because they were longer
// than its limit.
func (t *Lines) Truncated() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.truncated
}

// String returns the kept lines joined by newlines.
func (t *Lines) String() string { return strings.Join(t.Lines(), "\n") }

// Follow reads r line by line until EOF or a read error, adding each line
// (carriage returns trimmed, cut to maxLine bytes) and passing it to each,
// if not nil. It closes nothing.
func (t *Lines) Follow(r io.Reader, maxLine int, each func(string)) {
	_ = ReadLines(r, maxLine, func(line []byte, cut bool) {
		s := strings.TrimRight(string(line), "\r")
		if cut {
			t.mu.Lock()
			t.truncated++
			t.mu.Unlock()
		}
		t.Add(s)
		if each != nil {
			each(s)
		}
	})
}

// ReadLines calls fn for each line of r, without its newline, until EOF
// (returning nil) or a read error (returning it). A line longer than
// maxLine bytes is passed cut to its first maxLine bytes with cut set, and
// the rest of it is skipped without being buffered, so memory stays within
// about maxLine whatever r holds. The slice is only valid during the call.
// A last line without a newline is passed too.
func ReadLines(r io.Reader, maxLine int, fn func(line []byte, cut bool)) error {
	if maxLine < 1 {
		maxLine = 1
	}
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			fn(line[:len(line)-1], false)
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			fn(line, true)
			if err := skipLine(br); err != nil {
				return eof(err)
			}
			continue
		}
		if len(line) > 0 {
			fn(line, false)
		}
		return eof(err)
	}
}

// skipLine discards up to and including the next newline.
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return err
	}
}

func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
