package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// openPort opens the virtio-serial port called name with flag (os.O_WRONLY,
// os.O_RDONLY), waiting up to wait for the device to appear (ports are
// added asynchronously during boot).
func openPort(name string, flag int, wait time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		dirs, _ := filepath.Glob("/sys/class/virtio-ports/vport*")
		for _, d := range dirs {
			raw, err := os.ReadFile(filepath.Join(d, "name"))
			if err != nil || strings.TrimSpace(string(raw)) != name {
				continue
			}
			dev := "/dev/" + filepath.Base(d)
			if f, err := os.OpenFile(dev, flag, 0); err == nil {
				return f, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("virtio-serial port %q did not appear within %s", name, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
