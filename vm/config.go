package vm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

// Config describes one VM.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary; empty means $KTSTR_QEMU or the
	// one on PATH.
	QEMU string
	// Kernel is the kernel image (bzImage).
	Kernel string
	// Initrd holds the initramfs segments, concatenated in order (the kernel
	// unpacks concatenated newc archives one after another). Each is a file
	// path.
	Initrd []string
	// InitrdData is appended after Initrd: small per-VM archives built in
	// memory.
	InitrdData [][]byte

	Topology topology.Topology
	MemoryMB int
	Accel    Accel
	// Append is added to the kernel command line.
	Append []string
	// Timeout kills the VM when it runs longer; zero means no limit.
	Timeout time.Duration
	// Console receives each line of the guest's serial console.
	Console func(line string)
	// ConsoleTailLines is how many console lines Result keeps (default 200).
	ConsoleTailLines int
	// ExtraArgs are appended to the QEMU command line.
	ExtraArgs []string
}

// BaseCmdline is the kernel command line every VM gets. Any oops or panic
// makes the guest reboot at once, and -no-reboot turns that into QEMU
// exiting, so a dead guest never has to wait for the host timeout.
var BaseCmdline = []string{
	"console=ttyS0,115200", "earlyprintk=serial,ttyS0,115200", "panic=-1", "oops=panic",
	"rdinit=/init", "mitigations=off", "random.trust_cpu=on", "8250.nr_uarts=1",
	"nokaslr", "audit=0", "tsc=reliable", "no_timer_check",
}

// Guest file descriptor numbers of the initrd memfd and the results pipe in
// the QEMU process.
const (
	initrdFD  = 3
	resultsFD = 4
)

// QEMUBinary returns the QEMU binary to run: $KTSTR_QEMU or
// qemu-system-x86_64 on PATH.
func QEMUBinary() (string, error) {
	if p := os.Getenv("KTSTR_QEMU"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", errors.New("qemu-system-x86_64 not found on PATH: install it (Debian: apt-get install qemu-system-x86) or set KTSTR_QEMU")
	}
	return p, nil
}

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
	return c.Topology.Validate()
}

// Args returns QEMU's arguments for the config. The initramfs is read from
// file descriptor 3 and guest results are written to descriptor 4; Start
// provides both.
func (c *Config) Args() ([]string, error) {
	topo, err := c.Topology.QEMUArgs(c.MemoryMB)
	if err != nil {
		return nil, fmt.Errorf("vm config: %w", err)
	}
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-M", "q35"}
	switch c.Accel {
	case KVM:
		args = append(args, "-accel", "kvm", "-cpu", "host")
	case TCG:
		args = append(args, "-accel", "tcg,thread=multi", "-cpu", "max")
	default:
		return nil, fmt.Errorf("vm config: accelerator %q: want kvm or tcg", c.Accel)
	}
	args = append(args, topo...)
	args = append(args,
		"-kernel", c.Kernel,
		"-initrd", fmt.Sprintf("/dev/fd/%d", initrdFD),
		"-append", strings.Join(append(append([]string{}, BaseCmdline...), c.Append...), " "),
		"-chardev", "stdio,id=con,signal=off",
		"-serial", "chardev:con",
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", fmt.Sprintf("file,id=results,path=/dev/fd/%d", resultsFD),
		"-device", "virtserialport,bus=vser.0,chardev=results,name="+ResultsPort,
		"-device", "virtio-rng-pci",
		"-monitor", "none",
	)
	return append(args, c.ExtraArgs...), nil
}
