package hostbuild

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunCancelKillsGroup checks that cancelling kills the command's
// children too, not only the command.
func TestRunCancelKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := Command(ctx, "", "sh", "-c", "sleep 60 & echo $! > "+pidFile+"; wait")
	done := make(chan error, 1)
	var out strings.Builder
	go func() { done <- Run(ctx, cmd, &out) }()

	var child int
	for deadline := time.Now().Add(5 * time.Second); child == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("child pid never written")
		}
		b, _ := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("run error = %v, want context.Canceled", err)
		}
		var e *Error
		if !errors.As(err, &e) || !e.Interrupted || !strings.HasSuffix(err.Error(), "; wait interrupted: context canceled") {
			t.Errorf("run error = %v (%#v), want an interrupted *Error naming the command", err, e)
		}
	case <-time.After(killGrace + 5*time.Second):
		t.Fatal("run did not return after cancel")
	}
	for deadline := time.Now().Add(5 * time.Second); alive(child); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d survived the cancellation", child)
		}
	}
}

// alive reports whether pid runs (a zombie counts as dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestRunFailure(t *testing.T) {
	ctx := context.Background()
	var out strings.Builder
	if err := Run(ctx, Command(ctx, "", "sh", "-c", "echo hi; echo oops >&2"), &out); err != nil || out.String() != "hi\noops\n" {
		t.Errorf("Run = %v, output %q", err, out.String())
	}
	err := Run(ctx, Command(ctx, "", "sh", "-c", "exit 3"), &out)
	var exit *exec.ExitError
	if err == nil || err.Error() != "sh -c exit 3: exit status 3" || !errors.As(err, &exit) {
		t.Errorf("Run error = %v, want the command line and an *exec.ExitError", err)
	}
}

func TestOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if got, err := Output(ctx, dir, "pwd"); err != nil || strings.TrimSpace(got) != dir {
		t.Errorf("Output(pwd) = %q, %v; want %s", got, err, dir)
	}
	_, err := Output(ctx, "", "sh", "-c", "echo out; echo bad thing >&2; exit 1")
	if err == nil || err.Error() != "sh -c echo out; echo bad thing >&2; exit 1: exit status 1: bad thing" {
		t.Errorf("Output error = %v", err)
	}
	if _, err := Output(ctx, "", "false"); err == nil || err.Error() != "false: exit status 1" {
		t.Errorf("Output error = %v", err)
	}
}

func TestLogTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := 1; i <= 100; i++ {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := LogTail(p, 3)
	if got != "line 98\nline 99\nline 100" {
		t.Errorf("LogTail = %q", got)
	}
	if got := LogTail(filepath.Join(t.TempDir(), "missing"), 3); !strings.HasPrefix(got, "(cannot read log: ") {
		t.Errorf("LogTail of a missing file = %q", got)
	}
}

func TestLastLines(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	} {
		if got := LastLines(tt.s, tt.n); got != tt.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestReporter(t *testing.T) {
	var b strings.Builder
	r := Reporter{W: &b, Prefix: "ktstr: sched: "}
	r.Phase("building %s (%d%%)", "scx_simple", 50)
	r.Phase("done")
	if want := "ktstr: sched: building scx_simple (50%)\nktstr: sched: done\n"; b.String() != want {
		t.Errorf("output %q, want %q", b.String(), want)
	}
	Reporter{Prefix: "x: "}.Phase("no writer: %s", "nothing printed")
}
