package guest

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mount is one file system guest init mounts.
type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func (m mount) String() string {
	return fmt.Sprintf("mount %s on %s type %s", m.source, m.target, m.fstype)
}

func (m mount) do() error {
	if err := os.MkdirAll(m.target, 0o755); err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	return nil
}

const nodev = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// mounts are the file systems every guest gets, in order.
var mounts = []mount{
	{"proc", "/proc", "proc", nodev, ""},
	{"sysfs", "/sys", "sysfs", nodev, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", nodev, ""},
	{"debugfs", "/sys/kernel/debug", "debugfs", nodev, ""},
	{"tracefs", "/sys/kernel/tracing", "tracefs", nodev, ""},
	{"bpf", "/sys/fs/bpf", "bpf", nodev, "mode=0700"},
}

// CgroupRoot is where the guest's cgroup v2 hierarchy is mounted.
const CgroupRoot = "/sys/fs/cgroup"

func mountAll() error {
	for _, m := range mounts {
		if err := m.do(); err != nil {
			return err
		}
	}
	// Let child cgroups use the cpuset and cpu controllers.
	if err := os.WriteFile(CgroupRoot+"/cgroup.subtree_control", []byte("+cpuset +cpu"), 0); err != nil {
		return fmt.Errorf("enable cgroup controllers: %w", err)
	}
	return nil
}
