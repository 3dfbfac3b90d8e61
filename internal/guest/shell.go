package guest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/verdict"
)

// Where ktstr shell's guest finds its tools and its terminal.
const (
	// BusyboxPath is where the host packs busybox for ktstr shell.
	BusyboxPath = "/bin/busybox"
	shellTTY    = "/dev/ttyS0"
)

// runShell runs a KindShell job's shell on the serial console, as the
// session leader with the console as its controlling terminal (so job
// control works), with the host terminal's size and TERM; or runs its one
// command. The exit status goes into s.shell.
func (s *session) runShell() *verdict.Failure {
	sh := s.job.Shell
	if sh == nil {
		return verdict.New(verdict.HarnessError, "a shell job without its shell")
	}
	if _, err := os.Stat(BusyboxPath); err == nil {
		_ = os.MkdirAll("/usr/bin", 0o755)
		_ = os.MkdirAll("/sbin", 0o755)
		_ = os.MkdirAll("/usr/sbin", 0o755)
		if out, err := exec.Command(BusyboxPath, "--install", "-s").CombinedOutput(); err != nil {
			return verdict.New(verdict.HarnessError, "busybox --install: %v: %s", err, out)
		}
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		return verdict.New(verdict.HarnessError, "the guest has no /bin/sh: install busybox-static on the host (apt-get install busybox-static)")
	}
	tty, err := os.OpenFile(shellTTY, os.O_RDWR, 0)
	if err != nil {
		return verdict.New(verdict.HarnessError, "open the console %s: %v", shellTTY, err)
	}
	defer tty.Close()
	if sh.Rows > 0 && sh.Cols > 0 {
		setWinsize(tty, proto.Winsize{Rows: sh.Rows, Cols: sh.Cols})
	}
	if sh.Exec == "" {
		go followResize(tty)
	}
	args := []string{"-l"}
	if sh.Exec != "" {
		args = []string{"-c", sh.Exec}
	}
	term := sh.Term
	if term == "" {
		term = "vt100"
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin:/include-files:/ktstr/sched", "HOME=/", "TERM=" + term, "PS1=ktstr# "}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// Interactive, the shell leads a session with the console as its
	// controlling terminal, for job control. A command does not: when a
	// session leader exits the kernel hangs its terminal up, which throws
	// away output the serial port has not sent yet, the command's last
	// lines (or all of them) under a slow emulated UART.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: sh.Exec == "", Ctty: 0}
	_, _ = tty.WriteString(proto.ShellMarker)
	exited, err := s.reaper.start(cmd)
	if err != nil {
		return verdict.New(verdict.HarnessError, "start the shell: %v", err)
	}
	ws := <-exited
	// The shell's exit hung its terminal up: a new open writes again.
	if t, err := os.OpenFile(shellTTY, os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
		_, _ = t.WriteString(proto.ShellEndMarker)
		_ = unix.IoctlSetInt(int(t.Fd()), unix.TCSBRK, 1) // tcdrain: sent before the guest powers off
		t.Close()
	}
	status := ws.ExitStatus()
	if ws.Signaled() {
		status = 128 + int(ws.Signal())
	}
	s.shell = &proto.ShellResult{Status: status}
	return nil
}

// setWinsize sets the console's size; the kernel sends SIGWINCH to its
// foreground process group.
func setWinsize(tty *os.File, w proto.Winsize) {
	_ = unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(w.Rows), Col: uint16(w.Cols)})
}

// followResize applies the sizes the host sends on the control port to
// the console, as the host's terminal is resized, until the port closes.
// Lines that are not a size are ignored: the port is the host's, but what
// reaches the guest is parsed, never trusted.
func followResize(tty *os.File) {
	port, err := openPort(proto.ControlPortName, os.O_RDONLY, 5*time.Second)
	if err != nil {
		return // a host that sends no sizes
	}
	defer port.Close()
	sc := bufio.NewScanner(port)
	for sc.Scan() {
		if w, ok := proto.ParseWinsize(sc.Text()); ok {
			setWinsize(tty, w)
		}
	}
}

// schedulerConsole is where the scheduler's output goes besides its log
// tail: the console, except under a shell, whose console it is.
func (s *session) schedulerConsole() io.Writer {
	if s.job.Kind == proto.KindShell {
		return io.Discard
	}
	return os.Stdout
}

// runWorkload runs what the job is for: the test function, or the shell.
func (s *session) runWorkload() *verdict.Failure {
	if s.job.Kind == proto.KindShell {
		return s.runShell()
	}
	return s.runTest()
}
