package hostbuild

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// pdeathsigEnv makes the test binary run TestPdeathsigHelper as the process
// that starts a command and then gets SIGKILLed.
const pdeathsigEnv = "HOSTBUILD_PDEATHSIG_HELPER"

// TestPdeathsigHelper is not a test: run by TestPdeathsig with pdeathsigEnv
// set, it starts a long command with Command and Start, prints
// "pid <pid of the process that must not outlive us>" and waits.
func TestPdeathsigHelper(t *testing.T) {
	mode := os.Getenv(pdeathsigEnv)
	if mode == "" {
		t.Skip("helper process for TestPdeathsig")
	}
	ctx := context.Background()
	dir := os.Getenv(pdeathsigEnv + "_DIR")
	var cmd *exec.Cmd
	switch mode {
	case "sleep":
		cmd = Command(ctx, dir, "sleep", "300")
	case "make":
		// make's job is a grandchild of ours; make passes SIGTERM on.
		mk := filepath.Join(dir, "Makefile")
		if err := os.WriteFile(mk, []byte("all:\n\techo $$$$ > job.pid; exec sleep 300\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = Command(ctx, dir, "make", "-s", "-f", mk)
	}
	wait, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if mode == "make" {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(filepath.Join(dir, "job.pid"))
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
				pid = p
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("make's job never wrote its pid")
			}
		}
	}
	fmt.Printf("pid %d\n", pid)
	_ = wait()
}

// TestPdeathsig checks that a command from Command (and the jobs of a make
// started so) does not outlive a ktstr killed with SIGKILL.
func TestPdeathsig(t *testing.T) {
	modes := []string{"sleep"}
	if _, err := exec.LookPath("make"); err == nil {
		modes = append(modes, "make")
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			helper := exec.Command(os.Args[0], "-test.run=^TestPdeathsigHelper$", "-test.v")
			helper.Env = append(os.Environ(), pdeathsigEnv+"="+mode, pdeathsigEnv+"_DIR="+t.TempDir())
			out, err := helper.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			helper.Stderr = os.Stderr
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			defer helper.Process.Kill()
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			pid := 0
			timeout := time.After(20 * time.Second)
			for pid == 0 {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("helper exited without printing a pid")
					}
					if p, ok := strings.CutPrefix(l, "pid "); ok {
						pid, _ = strconv.Atoi(p)
					}
				case <-timeout:
					t.Fatal("helper printed no pid")
				}
			}
			go func() {
				for range lines {
				}
			}()
			if !alive(pid) {
				t.Fatalf("process %d not running before the kill", pid)
			}
			if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = helper.Wait()
			for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("process %d (%s) outlived the SIGKILLed process that started it", pid, mode)
				}
			}
		})
	}
}
