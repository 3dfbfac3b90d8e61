package vm

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// initrdMemfd concatenates the initramfs segments into an anonymous memory
// file that QEMU reads as /dev/fd/3. Nothing touches the file system, so
// nothing is left behind however the run ends.
func initrdMemfd(paths []string, data [][]byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("ktstr-initrd", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("initrd memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ktstr-initrd")
	for _, p := range paths {
		if err := appendFile(f, p); err != nil {
			f.Close()
			return nil, fmt.Errorf("initrd %s: %w", p, err)
		}
	}
	for _, d := range data {
		if _, err := f.Write(d); err != nil {
			f.Close()
			return nil, fmt.Errorf("initrd memfd: %w", err)
		}
	}
	return f, nil
}

func appendFile(dst *os.File, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(dst, src)
	return err
}
