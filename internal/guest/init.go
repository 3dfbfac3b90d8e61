// Package guest is what runs inside the VM: the test binary as PID 1 (Init),
// and helpers for the processes it starts.
//
// Init mounts the usual file systems, opens the results channel, reads the
// Job the host packed into the initramfs and carries it out: for a test job
// it re-executes the binary as a child in the test role, which runs exactly
// one Go test function and reports through a pipe; Init forwards the child's
// frames to the host, watches its time budget, and always ends with a Done
// frame and a power-off. Init never returns.
package guest

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verdict"
)

// IsInit reports whether this process is the guest's PID 1.
func IsInit() bool { return os.Getpid() == 1 }

// Init runs the guest side of a job as PID 1 and powers the guest off. It
// never returns.
func Init() {
	err := runInit()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ktstr guest init: %v\n", err)
	}
	powerOff()
}

func runInit() error {
	if err := mountAll(); err != nil {
		return err
	}
	port, err := openPort(proto.PortName, os.O_WRONLY, 10*time.Second)
	if err != nil {
		return err
	}
	defer port.Close()
	out := proto.NewWriter(port)
	done := proto.Done{}
	defer func() {
		done.Uptime = Uptime()
		if err := out.Send(proto.TypeDone, done); err != nil {
			fmt.Fprintf(os.Stderr, "ktstr guest init: %v\n", err)
		}
	}()

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	_ = out.Send(proto.TypeHello, proto.Hello{Uptime: Uptime(), Kernel: unix.ByteSliceToString(uts.Release[:])})
	job, err := ReadJob()
	if err != nil {
		done.Failure = verdict.New(verdict.HarnessError, "%v", err)
		return nil
	}
	switch job.Kind {
	case proto.KindTopo:
		o, err := topology.Read("/sys")
		if err != nil {
			done.Failure = verdict.New(verdict.HarnessError, "read the guest topology: %v", err)
			return nil
		}
		if err := out.Send(proto.TypeTopo, o); err != nil {
			return err
		}
	case proto.KindTest, proto.KindShell:
		s := &session{job: job, out: out, reaper: newReaper()}
		done.Failure = s.run()
		done.Dropped, done.Shell = s.dropped, s.shell
	default:
		done.Failure = verdict.New(verdict.HarnessError, "unknown job kind %q", job.Kind)
	}
	return nil
}

// ReadJob reads the job the host packed into the initramfs.
func ReadJob() (*proto.Job, error) {
	raw, err := os.ReadFile(proto.JobPath)
	if err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	var j proto.Job
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("read job %s: %w", proto.JobPath, err)
	}
	return &j, nil
}

// Uptime returns the time since the guest kernel booted.
func Uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func powerOff() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "ktstr guest init: power off: %v\n", err)
	}
	// Reboot only returns on failure; PID 1 must not exit.
	for {
		time.Sleep(time.Hour)
	}
}
