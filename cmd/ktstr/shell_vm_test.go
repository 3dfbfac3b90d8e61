package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/internal/runner"
)

// ktstrBinary builds the ktstr command for a VM test, or skips the test
// (fails it under CI=true) when the host cannot boot a guest.
func ktstrBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that boots a VM")
	}
	if _, err := runner.HostEnvironment(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci || !errors.Is(err, runner.ErrPrerequisite) {
			t.Fatal(err)
		}
		t.Skipf("skipping VM test: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ktstr")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// qemuCount counts running QEMU processes whose command line has s.
func qemuCount(t *testing.T, s string) int {
	out, _ := exec.Command("pgrep", "-f", "qemu-system.*"+s).Output()
	return len(strings.Fields(string(out)))
}

// ktstr shell --exec boots the asked topology, prints the command's
// output and exits with its status.
func TestShellExec(t *testing.T) {
	bin := ktstrBinary(t)
	out, err := exec.Command(bin, "shell", "--topology", "1n1l4c1t", "--memory-mb", "384",
		"--exec", "cat /sys/devices/system/cpu/online; exit 3").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want status 3; output %q", err, out)
	}
	if string(out) != "0-3\n" {
		t.Errorf("output %q, want exactly the guest's online CPUs, 0-3 (no boot messages, no CR)", out)
	}
	// With a scheduler: attached, as in a test's guest.
	out, err = exec.Command(bin, "shell", "--scheduler", "scx_simple", "--memory-mb", "384",
		"--exec", "cat /sys/kernel/sched_ext/state /sys/kernel/sched_ext/root/ops").Output()
	if err != nil || string(out) != "enabled\nsimple\n" {
		t.Errorf("with scx_simple: %v, output %q; want it enabled", err, out)
	}
	// Without a terminal and without --exec: a clear error, no VM.
	cmd := exec.Command(bin, "shell")
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "needs a terminal on standard input") {
		t.Errorf("shell without a terminal: %v, %s", err, out)
	}
}

// An interactive session driven through tmux (a real pty): the guest's
// terminal has the pane's size and follows its resize, job control works, exit powers the guest
// off and no QEMU is left behind.
func TestShellInteractive(t *testing.T) {
	bin := ktstrBinary(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("tmux not installed (scripts/setup.sh installs it)")
		}
		t.Skip("tmux not installed")
	}
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	exitFile := filepath.Join(t.TempDir(), "exit")
	tmux := func(args ...string) string {
		out, _ := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		return string(out)
	}
	t.Cleanup(func() { tmux("kill-server") })
	const mem = "320" // tells this test's QEMU apart
	if out := tmux("new-session", "-d", "-x", "120", "-y", "40", bin+" shell --memory-mb "+mem+"; echo $? > "+exitFile); out != "" {
		t.Fatalf("tmux: %s", out)
	}
	waitFor := func(what string, limit time.Duration) string {
		t.Helper()
		var pane string
		for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if pane = tmux("capture-pane", "-p"); strings.Contains(pane, what) {
				return pane
			}
		}
		t.Fatalf("no %q on the terminal after %s; it shows:\n%s", what, limit, pane)
		return ""
	}
	waitFor("ktstr#", 2*time.Minute) // capture-pane trims the space
	tmux("send-keys", "echo v=$((6*7)); stty size; sleep 100 &", "Enter")
	waitFor("v=42", 30*time.Second)
	waitFor("40 120", 30*time.Second)
	tmux("send-keys", "jobs; kill %1", "Enter")
	waitFor("Running", 30*time.Second)
	// ash reports the job's end with the next command.
	tmux("send-keys", "echo next", "Enter")
	pane := waitFor("Terminated", 30*time.Second)
	if !strings.Contains(pane, "Running") {
		t.Errorf("jobs listed no background job:\n%s", pane)
	}
	// Resizing the host terminal resizes the guest's (the control port).
	if out := tmux("resize-window", "-x", "100", "-y", "30"); out != "" {
		t.Fatalf("tmux resize-window: %s", out)
	}
	time.Sleep(time.Second)
	tmux("send-keys", "clear; stty size", "Enter")
	waitFor("30 100", 30*time.Second)
	tmux("send-keys", "exit", "Enter")
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if b, err := os.ReadFile(exitFile); err == nil {
			if s := strings.TrimSpace(string(b)); s != "0" {
				t.Errorf("ktstr shell exited %s, want 0", s)
			}
			if n := qemuCount(t, "-m "+mem+"M"); n != 0 {
				t.Errorf("%d QEMU process(es) left behind", n)
			}
			return
		}
	}
	t.Fatalf("ktstr shell did not exit after the shell did; the terminal shows:\n%s", tmux("capture-pane", "-p"))
}
