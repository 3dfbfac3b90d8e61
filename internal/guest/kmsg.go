package guest

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/tail"
	"github.com/ktstr-go/ktstr/verdict"
)

// kmsgKept is how many sched_ext kernel lines a kmsgLog keeps.
const kmsgKept = 200

// kmsgLog keeps the sched_ext lines the kernel logs from the moment it is
// opened: the enable and disable messages with the exit reason, and the
// watchdog override. Only records of the kernel's own facility count: user
// space can write to /dev/kmsg, and a scheduler must not be able to forge
// the kernel's verdict on it.
type kmsgLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
}

// watchKmsg starts a kmsgLog. Without /dev/kmsg it stays empty, which the
// lifecycle reports where it needs a line.
func watchKmsg() *kmsgLog {
	k := &kmsgLog{changed: make(chan struct{})}
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		return k
	}
	if _, err := f.Seek(0, 2); err != nil { // only new records
		f.Close()
		return k
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
			if msg, ok := kernelRecord(buf[:n]); ok && strings.Contains(msg, "sched_ext") {
				k.add(msg)
			}
		}
	}()
	return k
}

// kernelRecord returns the message of a /dev/kmsg record
// ("<prio>,<seq>,<usec>,<flags>[,...];<message>\n[ continuation lines]")
// and whether the kernel itself logged it: facility 0 (kern), so prio
// below 8. Records written by user space carry facility 1 (user) or more.
func kernelRecord(rec []byte) (string, bool) {
	head, msg, ok := strings.Cut(string(rec), ";")
	if !ok {
		return "", false
	}
	prio, _, _ := strings.Cut(head, ",")
	p, err := strconv.Atoi(prio)
	if err != nil || p < 0 || p >= 8 {
		return "", false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return msg, true
}

func (k *kmsgLog) add(l string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.lines) >= kmsgKept {
		k.lines = k.lines[1:]
	}
	k.lines = append(k.lines, l)
	close(k.changed)
	k.changed = make(chan struct{})
}

// Lines returns the lines kept.
func (k *kmsgLog) Lines() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.lines...)
}

// waitFor waits up to d for ok(lines) to hold and returns the lines it
// held on, or nil and false.
func (k *kmsgLog) waitFor(d time.Duration, ok func([]string) bool) ([]string, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		k.mu.Lock()
		lines, changed := append([]string(nil), k.lines...), k.changed
		k.mu.Unlock()
		if ok(lines) {
			return lines, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil, false
		}
	}
}

var (
	enabledRE  = regexp.MustCompile(`^sched_ext: BPF scheduler "([^"]*)" enabled`)
	disabledRE = regexp.MustCompile(`^sched_ext: BPF scheduler "([^"]*)" disabled \((.*)\)$`)
	overrideRE = regexp.MustCompile(`^sched_ext: watchdog timeout (\d+)ms \(ktstr override; ops\.timeout_ms=(\d+)\)`)
)

// exitOf returns the kernel's last disable of a scheduler named one of
// names, with the message the kernel logged after it (error exits carry
// one: "sched_ext: <ops>: <message>"), or nil.
func exitOf(lines, names []string) *verdict.Exit {
	var exit *verdict.Exit
	var ops string
	for _, l := range lines {
		if m := disabledRE.FindStringSubmatch(l); m != nil && opsMatch(m[1], names) {
			exit, ops = &verdict.Exit{Reason: m[2]}, m[1]
			continue
		}
		if exit != nil && exit.Message == "" {
			if msg, ok := strings.CutPrefix(l, "sched_ext: "+ops+": "); ok {
				exit.Message = msg
			}
		}
	}
	return exit
}

// enabledAfterOverride returns the watchdog override (ms) the kernel logged
// for the last enable of a scheduler named one of names, and whether it
// logged one. ok is false until that enable's "enabled" line is in.
func enabledAfterOverride(lines, names []string) (ms uint64, override, ok bool) {
	var pending uint64
	var pendingSet bool
	for _, l := range lines {
		if m := overrideRE.FindStringSubmatch(l); m != nil {
			pending, _ = strconv.ParseUint(m[1], 10, 64)
			pendingSet = true
			continue
		}
		if m := enabledRE.FindStringSubmatch(l); m != nil {
			if opsMatch(m[1], names) {
				ms, override, ok = pending, pendingSet, true
			}
			pending, pendingSet = 0, false
		}
	}
	return ms, override, ok
}

// Exit reasons of the kernel (kernel/sched/ext.c scx_exit_reason).
const (
	exitUnregUser = "unregistered from user space"
	exitUnregBPF  = "unregistered from BPF"
)

// ejected reports whether exit is the kernel disabling the scheduler for
// an error (SCX_EXIT_ERROR and above: "runtime error", "scx_bpf_error",
// "runnable task stall", and reasons this code does not know), as opposed
// to the scheduler unregistering itself or being unregistered.
func ejected(exit *verdict.Exit) bool {
	switch exit.Reason {
	case exitUnregUser, exitUnregBPF, "unregistered from the main kernel", "disabled by sysrq-S":
		return false
	}
	return true
}

// dumpKept is how many lines of the sched_ext dump are kept: the exit
// reason and backtrace come first.
const dumpKept = 200

// dumpHead keeps the first lines of the sched_ext dump.
type dumpHead struct {
	mu    sync.Mutex
	lines []string
}

func (d *dumpHead) add(l string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.lines) < dumpKept {
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
// kernel's state dump when a scheduler is ejected for an error or when
// SysRq-D asks for one (the host monitor does, at a sustained violation),
// keeps its first lines and passes every line to each, if not nil.
func watchDump(each func(string)) *dumpHead {
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
		_ = tail.ReadLines(f, 4096, func(b []byte, _ bool) {
			line := string(b)
			if _, after, ok := strings.Cut(line, "sched_ext_dump: "); ok {
				line = after
			}
			t.add(line)
			if each != nil {
				each(line)
			}
		})
	}()
	return t
}
