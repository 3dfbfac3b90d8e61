package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

// Config describes one VM.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary; empty means the one on PATH
	// (see QEMUBinary).
	QEMU string
	// Kernel is the kernel image (bzImage, or an ELF vmlinux booted
	// through PVH).
	Kernel string
	// Initrd holds the initramfs segments, concatenated in order (the kernel
	// unpacks concatenated newc archives one after another). Each is a file
	// path.
	Initrd []string
	// InitrdData is appended after Initrd: small per-VM archives built in
	// memory.
	InitrdData [][]byte

	Topology topology.Topology
	// MemoryMB is the guest's RAM, split across the NUMA nodes as
	// Topology.NodeMemoryMB says; the host reads it through VM.Memory.
	MemoryMB int
	Accel    Accel
	// Cmdline is the kernel command line after the settings the launcher
	// itself relies on (see LauncherCmdline).
	Cmdline []string
	// Timeout kills the VM when it runs longer; zero means no limit.
	Timeout time.Duration
	// Console receives each line of the guest's serial console.
	Console func(line string)
	// ConsoleTailLines is how many console lines Result keeps (default 200).
	ConsoleTailLines int
	// Ports are virtio-serial ports the guest writes to. Each port's Read
	// runs as a task bound to the VM's lifetime: it gets the port's stream,
	// which reaches EOF only after QEMU has exited, and Wait returns once
	// every task has returned.
	Ports []Port
	// Tasks run beside the VM, each in its own goroutine, once QEMU has
	// started. A task's ctx is canceled when QEMU exits or the VM is
	// killed; Wait returns only after every task has returned, and joins
	// their errors. Guest memory stays readable until then.
	Tasks []func(ctx context.Context, v *VM) error
	// ExtraArgs are appended to the QEMU command line.
	ExtraArgs []string
	// Terminal, when set, is the serial console in both directions (QEMU's
	// stdin and stdout), instead of Console: a tty QEMU puts in raw mode,
	// for an interactive guest.
	Terminal *os.File
	// HostCPUs, when set, are the host CPUs QEMU may run on.
	HostCPUs []int
	// Pinning places each of QEMU's threads (performance mode); nil
	// leaves them to the host's scheduler within HostCPUs.
	Pinning *Pinning
}

// hostCPUs is the CPU affinity QEMU starts with.
func (c *Config) hostCPUs() []int {
	if c.Pinning != nil {
		return c.Pinning.cpus()
	}
	return c.HostCPUs
}

// Port is a virtio-serial port (guest to host) and the task that reads it;
// with Write, host to guest too.
type Port struct {
	// Name is the port's name as the guest sees it in
	// /sys/class/virtio-ports/*/name.
	Name string
	// Read reads the stream to EOF. Its error is returned by Wait.
	Read func(r io.Reader) error
	// Write, when set, writes to the guest: it runs as a task beside Read
	// and must return when ctx is canceled (QEMU exited or the VM was
	// killed). Its error is returned by Wait.
	Write func(ctx context.Context, w io.Writer) error
}

// LauncherCmdline is what the launcher puts first on every kernel command
// line: the console on the serial port it reads (ttyS0), and any oops or
// panic rebooting the guest at once, which -no-reboot turns into QEMU
// exiting, so that a dead guest never waits for the timeout.
var LauncherCmdline = []string{
	"console=ttyS0,115200", "earlyprintk=serial,ttyS0,115200", "panic=-1", "oops=panic",
}

// QEMUBinary returns the QEMU binary to run: override when not empty (it
// must be an executable file or a command on PATH), else
// qemu-system-x86_64 on PATH.
func QEMUBinary(override string) (string, error) {
	if override != "" {
		p, err := exec.LookPath(override)
		if err != nil {
			return "", fmt.Errorf("QEMU binary %q: %w", override, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", ErrNoQEMU
	}
	return p, nil
}

// ErrNoQEMU is returned by QEMUBinary when no QEMU is installed.
var ErrNoQEMU = errors.New("qemu-system-x86_64 not found on PATH: install it (Debian: apt-get install qemu-system-x86) or set KTSTR_QEMU")

var portNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks the parts of the config that need no QEMU.
func (c *Config) Validate() error {
	if c.Kernel == "" {
		return errors.New("vm config: no kernel image")
	}
	if _, err := os.Stat(c.Kernel); err != nil {
		return fmt.Errorf("vm config: kernel image: %w", err)
	}
	if len(c.Initrd) == 0 && len(c.InitrdData) == 0 {
		return errors.New("vm config: no initramfs")
	}
	if c.Accel != KVM && c.Accel != TCG {
		return fmt.Errorf("vm config: accelerator %q: want kvm or tcg", c.Accel)
	}
	seen := map[string]bool{}
	for _, p := range c.Ports {
		switch {
		case !portNameRE.MatchString(p.Name):
			return fmt.Errorf("vm config: port name %q: want 1-64 of [A-Za-z0-9._-]", p.Name)
		case seen[p.Name]:
			return fmt.Errorf("vm config: port %q given twice", p.Name)
		case p.Read == nil:
			return fmt.Errorf("vm config: port %q has no reader", p.Name)
		}
		seen[p.Name] = true
	}
	for i, t := range c.Tasks {
		if t == nil {
			return fmt.Errorf("vm config: task %d is nil", i)
		}
	}
	sizes, err := c.nodeMemory()
	if err != nil {
		return err
	}
	if p := c.Pinning; p != nil {
		if len(p.VCPUs) != c.Topology.CPUs() {
			return fmt.Errorf("vm config: pinning places %d vCPUs, the topology has %d", len(p.VCPUs), c.Topology.CPUs())
		}
		if p.Hugepages {
			for n, s := range sizes {
				if s%(2<<20) != 0 {
					return fmt.Errorf("vm config: hugepages: node %d's %d bytes of RAM are not a whole number of 2 MiB pages", n, s)
				}
			}
		}
	}
	for _, a := range c.Cmdline {
		if a == "" || strings.ContainsAny(a, " \t\n\r\v\f") {
			return fmt.Errorf("vm config: kernel command line element %q: one parameter per element, no whitespace", a)
		}
	}
	return c.Topology.Validate()
}

// The descriptors QEMU gets besides stdin (the console's input), stdout
// (the console) and stderr: the initramfs memfd is 3, port i's pipe is
// 4+i, then come the QMP socket and one guest-memory memfd per NUMA node.
const (
	initrdFD    = 3
	firstPortFD = 4
)

// qmpFD is the QMP socket's descriptor in QEMU.
func (c *Config) qmpFD() int { return firstPortFD + len(c.Ports) }

// memoryFD is the descriptor of NUMA node n's memory in QEMU.
func (c *Config) memoryFD(n int) int { return c.qmpFD() + 1 + n }

// consoleID is the chardev of the serial console (QEMU's stdin and stdout).
const consoleID = "con"

// nodeMemory returns each NUMA node's RAM in bytes, checked against the
// guest-physical layout Memory relies on.
func (c *Config) nodeMemory() ([]uint64, error) {
	mb, err := c.Topology.NodeMemoryMB(c.MemoryMB)
	if err != nil {
		return nil, fmt.Errorf("vm config: %w", err)
	}
	sizes := make([]uint64, len(mb))
	for i, m := range mb {
		sizes[i] = uint64(m) << 20
	}
	if _, err := q35Layout(sizes); err != nil {
		return nil, fmt.Errorf("vm config: %w", err)
	}
	return sizes, nil
}

// Args returns QEMU's arguments for the config. QEMU reads the console's
// input on stdin and writes the console on stdout; the initramfs is read
// from descriptor 3, port i is written to descriptor 4+i, the QMP socket is
// the next descriptor and NUMA node n's RAM the memory file after it at
// offset n (see Start, which provides them all).
func (c *Config) Args() ([]string, error) {
	sizes, err := c.nodeMemory()
	if err != nil {
		return nil, err
	}
	memdevs := make([]string, len(sizes))
	for n := range memdevs {
		memdevs[n] = fmt.Sprintf("mem%d", n)
	}
	topo, err := c.Topology.QEMUArgs(memdevs)
	if err != nil {
		return nil, fmt.Errorf("vm config: %w", err)
	}
	machine := "q35"
	if len(sizes) == 1 {
		machine += ",memory-backend=" + memdevs[0]
	}
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-M", machine}
	switch c.Accel {
	case KVM:
		args = append(args, "-accel", "kvm", "-cpu", "host")
	case TCG:
		args = append(args, "-accel", "tcg,thread=multi", "-cpu", "max")
	default:
		return nil, fmt.Errorf("vm config: accelerator %q: want kvm or tcg", c.Accel)
	}
	// Each node's RAM is a memory file the host maps too; share=on makes
	// QEMU map it shared, so the host sees what the guest writes.
	args = append(args, "-m", strconv.Itoa(c.MemoryMB)+"M")
	for n, size := range sizes {
		obj := fmt.Sprintf("memory-backend-file,id=%s,size=%d,mem-path=/dev/fd/%d,share=on", memdevs[n], size, c.memoryFD(n))
		if p := c.Pinning; p != nil && n < len(p.HostNodes) && len(p.HostNodes[n]) > 0 {
			// Bound to the host nodes of its vCPUs' CPUs (QEMU mbinds the
			// mapping); a list property, one range per key.
			for _, r := range strings.Split(hostNodes(p.HostNodes[n]), ",") {
				obj += ",host-nodes=" + r
			}
			obj += ",policy=bind"
		}
		args = append(args, "-object", obj)
	}
	if c.Pinning != nil {
		// Paused until every vCPU thread is on its CPU (VM.pin).
		args = append(args, "-S")
	}
	args = append(args, topo...)
	cmdline := append(append([]string{}, LauncherCmdline...), c.Cmdline...)
	args = append(args,
		"-kernel", c.Kernel,
		"-initrd", fmt.Sprintf("/dev/fd/%d", initrdFD),
		"-append", strings.Join(cmdline, " "),
		"-chardev", "stdio,id="+consoleID+",signal=off",
		"-serial", "chardev:"+consoleID,
		// QMP on a socket already connected to the host (a client chardev
		// given a descriptor uses it as it is).
		"-chardev", fmt.Sprintf("socket,id=qmp,fd=%d", c.qmpFD()),
		"-mon", "chardev=qmp,mode=control",
	)
	if len(c.Ports) > 0 {
		args = append(args, "-device", "virtio-serial-pci,id=vser")
		for i, p := range c.Ports {
			id := fmt.Sprintf("port%d", i)
			chardev := fmt.Sprintf("file,id=%s,path=/dev/fd/%d", id, firstPortFD+i)
			if p.Write != nil {
				// Both ways: a socket already connected to the host.
				chardev = fmt.Sprintf("socket,id=%s,fd=%d", id, firstPortFD+i)
			}
			args = append(args,
				"-chardev", chardev,
				"-device", fmt.Sprintf("virtserialport,bus=vser.0,chardev=%s,name=%s", id, p.Name))
		}
	}
	args = append(args, "-device", "virtio-rng-pci", "-monitor", "none")
	return append(args, c.ExtraArgs...), nil
}
