package guest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/tail"
)

// session carries out one test job inside the guest.
type session struct {
	job    *proto.Job
	out    *proto.Writer
	reaper *reaper
}

// run carries out the job and returns why it failed outside the test
// function, with the log that explains it, or two empty strings.
func (s *session) run() (failure, detail string) {
	if err := applySysctls(s.job.Sysctls); err != nil {
		return err.Error(), ""
	}
	if s.job.Scheduler != nil {
		return s.runScheduled()
	}
	return s.runTest()
}

// logf sends a line to the host's test log.
func (s *session) logf(format string, args ...any) {
	_ = s.out.Send(proto.TypeLog, proto.Log{Msg: fmt.Sprintf(format, args...)})
}

// TestArgs returns the go test flags that make the test binary run exactly
// the named test (a testing.T.Name, subtests separated by '/').
func TestArgs(name string, verbose bool) []string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	args := []string{"-test.run=" + strings.Join(parts, "/"), "-test.timeout=0", "-test.count=1"}
	if verbose {
		args = append(args, "-test.v=true")
	}
	return args
}

// runTest runs the test function in a child process and forwards its
// frames.
func (s *session) runTest() (failure, detail string) {
	frR, frW, err := os.Pipe()
	if err != nil {
		return "create frame pipe", err.Error()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return "create output pipe", err.Error()
	}
	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}
	// Always verbose: when the test never reaches ktstr.Run, go test's
	// SKIP or FAIL line is what explains it.
	cmd := exec.Command(self, TestArgs(s.job.Test, true)...)
	cmd.Env = append(os.Environ(), proto.EnvRole+"="+proto.RoleTest)
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.ExtraFiles = []*os.File{frW} // fd 3 in the child: see ChildWriter
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited, err := s.reaper.start(cmd)
	frW.Close()
	outW.Close()
	if err != nil {
		frR.Close()
		outR.Close()
		return "start test process", err.Error()
	}
	pid := cmd.Process.Pid

	output := tail.New(60)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // child output to the console, keeping a tail
		defer wg.Done()
		defer outR.Close()
		output.Follow(outR, func(l string) { fmt.Fprintln(os.Stdout, l) })
	}()
	var gotResult bool
	var frameErr error
	go func() { // child frames to the host
		defer wg.Done()
		defer frR.Close()
		r := proto.NewReader(frR)
		for {
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				frameErr = err
				continue
			}
			if f.Type == proto.TypeResult {
				gotResult = true
			}
			if err := s.out.Send(f.Type, f.Data); err != nil {
				frameErr = err
			}
		}
	}()

	var ws unix.WaitStatus
	timer := time.NewTimer(s.job.TestTimeout)
	defer timer.Stop()
	select {
	case ws = <-exited:
	case <-timer.C:
		_ = unix.Kill(-pid, unix.SIGKILL)
		<-exited
		failure = fmt.Sprintf("test function did not finish within %s (guest-side limit: duration plus setup, scaled for %s)", s.job.TestTimeout, s.job.Accel)
	}
	// Whatever the test left running in its process group goes too.
	_ = unix.Kill(-pid, unix.SIGKILL)
	wg.Wait()
	_ = cmd.Process.Release()

	switch {
	case failure != "":
	case frameErr != nil:
		failure = fmt.Sprintf("results from the test process were damaged: %v", frameErr)
	case !gotResult && ws.Signaled():
		failure = fmt.Sprintf("test process killed by signal %v before reporting a result", ws.Signal())
	case !gotResult && panicked(output.Lines()):
		failure = "test process panicked before reporting a result"
	case !gotResult && ws.ExitStatus() != 0:
		failure = fmt.Sprintf("test process exited with status %d before reporting a result", ws.ExitStatus())
	case !gotResult:
		failure = fmt.Sprintf("test function never ran in the guest: %s ended without reaching ktstr.Run call %d (code before ktstr.Run runs in the guest too: a skip or failure there ends the guest run; see ktstr.InGuest)", s.job.Test, s.job.Occurrence)
	}
	if failure != "" {
		detail = output.String()
	}
	return failure, detail
}

func panicked(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return true
		}
	}
	return false
}

// ChildWriter returns the frame writer of a process started in the test
// role: descriptor 3, a pipe to PID 1. It marks the descriptor close-on-exec
// so that processes the test starts do not inherit it.
func ChildWriter() (*proto.Writer, error) {
	if _, err := unix.FcntlInt(3, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("results pipe (fd 3): %w", err)
	}
	return proto.NewWriter(os.NewFile(3, "ktstr-results")), nil
}
