package guest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/tail"
	"github.com/ktstr-go/ktstr/scheduler"
	"github.com/ktstr-go/ktstr/verdict"
)

// session carries out one test job inside the guest.
type session struct {
	job    *proto.Job
	out    *proto.Writer
	reaper *reaper
	// dropped counts frames of the test process init refused to forward.
	dropped int
	// shell is a KindShell job's result.
	shell *proto.ShellResult
}

// run carries out the job and returns why it failed outside the test
// function's own result, or nil.
func (s *session) run() *verdict.Failure {
	if err := applySysctls(s.job.Sysctls); err != nil {
		return verdict.New(verdict.HarnessError, "%v", err)
	}
	if s.job.Scheduler != nil {
		return s.runScheduled()
	}
	return s.runWorkload()
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

// outputLine bounds one line of the test process's output kept in memory.
const outputLine = 4096

// runTest runs the test function in a child process and forwards its
// frames: only the frame types a test process may send, each checked.
func (s *session) runTest() *verdict.Failure {
	frR, frW, err := os.Pipe()
	if err != nil {
		return verdict.New(verdict.HarnessError, "create frame pipe: %v", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return verdict.New(verdict.HarnessError, "create output pipe: %v", err)
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
	cmd.ExtraFiles = []*os.File{frW} // fd 3 in the child: proto.ChildFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited, err := s.reaper.start(cmd)
	frW.Close()
	outW.Close()
	if err != nil {
		frR.Close()
		outR.Close()
		return verdict.New(verdict.HarnessError, "start test process: %v", err)
	}
	pid := cmd.Process.Pid
	output := tail.New(60)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // child output to the console, keeping a tail
		defer wg.Done()
		defer outR.Close()
		output.Follow(outR, outputLine, func(l string) { fmt.Fprintln(os.Stdout, l) })
	}()
	var gotResult bool
	var frameErr error
	go func() { // child frames to the host
		defer wg.Done()
		defer frR.Close()
		r := proto.NewReader(frR)
		note := func(err error) {
			s.dropped++
			if frameErr == nil {
				frameErr = err
			}
		}
		for {
			f, err := r.Next()
			switch {
			case errors.Is(err, io.EOF):
				return
			case errors.Is(err, proto.ErrCorrupt):
				note(err)
				continue
			case err != nil:
				note(err)
				return
			case !proto.FromTestProcess(f.Type):
				note(fmt.Errorf("a %q frame, which only init may send", f.Type))
				continue
			}
			if f.Type == proto.TypeResult {
				gotResult = true
			}
			if err := s.out.Send(f.Type, f.Data); err != nil && frameErr == nil {
				frameErr = err
			}
		}
	}()
	var ws unix.WaitStatus
	var failure *verdict.Failure
	timer := time.NewTimer(s.job.Budget.Test)
	defer timer.Stop()
	select {
	case ws = <-exited:
	case <-timer.C:
		_ = unix.Kill(-pid, unix.SIGKILL)
		<-exited
		failure = verdict.New(verdict.GuestHang, "test function did not finish within %s (guest-side limit: duration plus set-up, scaled for %s)", s.job.Budget.Test, s.job.Budget.Accel)
	}
	// Whatever the test left running in its process group goes too.
	_ = unix.Kill(-pid, unix.SIGKILL)
	wg.Wait()
	_ = cmd.Process.Release()
	switch {
	case failure != nil:
	case frameErr != nil:
		failure = verdict.New(verdict.HarnessError, "results from the test process cannot be trusted: %v", frameErr)
	case !gotResult && ws.Signaled():
		failure = verdict.New(verdict.TestPanic, "test process killed by signal %v before reporting a result", ws.Signal())
	case !gotResult && panicked(output.Lines()):
		failure = verdict.New(verdict.TestPanic, "test process panicked before reporting a result")
	case !gotResult && ws.ExitStatus() != 0:
		failure = verdict.New(verdict.TestError, "test process exited with status %d before reporting a result", ws.ExitStatus())
	case !gotResult:
		failure = verdict.New(verdict.TestError, "test function never ran in the guest: %s ended without reaching ktstr.Run call %d (code before ktstr.Run runs in the guest too: a skip or failure there ends the guest run; see ktstr.InGuest)", s.job.Test, s.job.Occurrence)
	}
	if failure != nil {
		failure.Detail = output.Lines()
	}
	return failure
}

func panicked(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return true
		}
	}
	return false
}

// applySysctls writes each sysctl ("kernel.sched_rt_runtime_us") under
// /proc/sys, in name order. The names were validated on the host; they are
// checked again here, since the job is data like any other.
func applySysctls(sysctls map[string]string) error {
	if err := scheduler.ValidateSysctls(sysctls); err != nil {
		return err
	}
	keys := make([]string, 0, len(sysctls))
	for k := range sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := filepath.Join("/proc/sys", scheduler.SysctlPath(k))
		if err := os.WriteFile(path, []byte(sysctls[k]), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, sysctls[k], err)
		}
	}
	return nil
}

// ChildWriter returns the frame writer of a process started in the test
// role: descriptor proto.ChildFD, a pipe to PID 1. It marks the descriptor
// close-on-exec so that processes the test starts do not inherit it.
func ChildWriter() (*proto.Writer, error) {
	if _, err := unix.FcntlInt(proto.ChildFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("results pipe (fd %d): %w", proto.ChildFD, err)
	}
	return proto.NewWriter(os.NewFile(proto.ChildFD, "ktstr-results")), nil
}
