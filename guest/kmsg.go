package guest

import (
	"bufio"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/tail"
)

// watchKmsg keeps the sched_ext lines the kernel logs from now on (the
// enable and disable messages, with the exit reason).
func watchKmsg() *tail.Lines {
	t := tail.New(40)
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		return t
	}
	if _, err := f.Seek(0, 2); err != nil { // only new records
		f.Close()
		return t
	}
	go func() {
		defer f.Close()
		buf := make([]byte, 8192)
		for {
			n, err := f.Read(buf) // one record per read
			if err == unix.EPIPE {
				continue // records were overwritten; go on
			}
			if err != nil {
				return
			}
			_, msg, ok := strings.Cut(string(buf[:n]), ";")
			if !ok {
				continue
			}
			msg, _, _ = strings.Cut(msg, "\n")
			if strings.Contains(msg, "sched_ext") {
				t.Add(msg)
			}
		}
	}()
	return t
}

// dumpHead keeps the first lines of the sched_ext dump: the exit reason
// and backtrace come first.
type dumpHead struct {
	mu    sync.Mutex
	lines []string
}

const dumpHeadLines = 200

func (d *dumpHead) add(l string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.lines) < dumpHeadLines {
		d.lines = append(d.lines, l)
	}
}

// Lines returns the lines kept.
func (d *dumpHead) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.lines...)
}

// watchDump enables the sched_ext_dump trace event, which carries the
// kernel's state dump when a scheduler is ejected for an error, and keeps
// its first lines.
func watchDump() *dumpHead {
	t := &dumpHead{}
	const tr = "/sys/kernel/tracing"
	if os.WriteFile(tr+"/events/sched_ext/sched_ext_dump/enable", []byte("1"), 0) != nil {
		return t
	}
	f, err := os.Open(tr + "/trace_pipe")
	if err != nil {
		return t
	}
	go func() {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if _, after, ok := strings.Cut(line, "sched_ext_dump: "); ok {
				line = after
			}
			t.add(line)
		}
	}()
	return t
}
