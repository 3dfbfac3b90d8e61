package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	ioBlock = 4096    // bytes per write
	ioSpan  = 1 << 20 // the file's size: writes cycle over it
)

// ioFile is an unlinked file that IoSync writes blocks to.
type ioFile struct {
	fd  int
	off int64
	buf []byte
}

// openIoFile creates a file in the temporary directory and unlinks it at
// once, so that nothing is left behind even if the worker is killed.
func openIoFile() (*ioFile, error) {
	path := filepath.Join(os.TempDir(), "ktstr-io-"+strconv.Itoa(os.Getpid()))
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := unix.Unlink(path); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("unlink %s: %w", path, err)
	}
	buf := make([]byte, ioBlock)
	for i := range buf {
		buf[i] = byte(i)
	}
	return &ioFile{fd: fd, buf: buf}, nil
}

// block writes the next block and waits for it to be on the medium
// (fdatasync).
func (f *ioFile) block() error {
	if _, err := unix.Pwrite(f.fd, f.buf, f.off); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := unix.Fdatasync(f.fd); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	f.off = (f.off + ioBlock) % ioSpan
	return nil
}

func (f *ioFile) close() {
	if f != nil {
		unix.Close(f.fd)
	}
}

func (w *worker) ioSync() (loop, error) {
	f, err := openIoFile()
	if err != nil {
		return nil, err
	}
	return func(c *Control) error {
		defer f.close()
		for c.Running() {
			if err := f.block(); err != nil {
				return err
			}
			c.Progress(1)
		}
		return nil
	}, nil
}

// forkExit runs /bin/true (or /usr/bin/true), or when neither exists the
// test binary itself in a role that exits at once.
func (w *worker) forkExit() (loop, error) {
	devnull, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	path, argv, env := "", []string(nil), []string(nil)
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if unix.Access(p, unix.X_OK) == nil {
			path, argv = p, []string{p}
			break
		}
	}
	if path == "" {
		if path, err = os.Executable(); err != nil {
			unix.Close(devnull)
			return nil, fmt.Errorf("find own executable: %w", err)
		}
		spec, err := encodeSpec(workerSpec{Exit: true})
		if err != nil {
			unix.Close(devnull)
			return nil, err
		}
		argv, env = []string{path, "-test.run=^$"}, workerEnv(spec)
	}
	attr := &syscall.ProcAttr{Env: env, Files: []uintptr{uintptr(devnull), uintptr(devnull), uintptr(devnull)}}
	return func(c *Control) error {
		defer unix.Close(devnull)
		for c.Running() {
			pid, err := syscall.ForkExec(path, argv, attr)
			if err != nil {
				return fmt.Errorf("fork/exec %s: %w", path, err)
			}
			var ws syscall.WaitStatus
			for {
				_, err = syscall.Wait4(pid, &ws, 0, nil)
				if !errors.Is(err, syscall.EINTR) {
					break
				}
			}
			if err != nil {
				return fmt.Errorf("wait for child %d: %w", pid, err)
			}
			if !ws.Exited() || ws.ExitStatus() != 0 {
				return fmt.Errorf("child %s (pid %d) ended with status %#x", path, pid, uint32(ws))
			}
			c.Progress(1)
		}
		return nil
	}, nil
}
