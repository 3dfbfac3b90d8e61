package vm

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Accel is a QEMU accelerator.
type Accel string

// Accelerators.
const (
	KVM Accel = "kvm" // hardware virtualization
	TCG Accel = "tcg" // QEMU's software emulation (multi-threaded)
)

// Choice is an accelerator and why it was chosen.
type Choice struct {
	Accel  Accel
	Reason string
}

func (c Choice) String() string { return fmt.Sprintf("%s (%s)", c.Accel, c.Reason) }

// ChooseAccel picks the accelerator: $KTSTR_ACCEL when set to kvm or tcg;
// otherwise KVM when /dev/kvm opens read-write and the CPU advertises
// hardware virtualization (vmx or svm), else TCG.
func ChooseAccel() (Choice, error) {
	return chooseAccel(os.Getenv("KTSTR_ACCEL"), "/dev/kvm", "/proc/cpuinfo")
}

func chooseAccel(env, kvmDev, cpuinfo string) (Choice, error) {
	switch strings.ToLower(strings.TrimSpace(env)) {
	case "kvm":
		return Choice{KVM, "KTSTR_ACCEL=kvm"}, nil
	case "tcg":
		return Choice{TCG, "KTSTR_ACCEL=tcg"}, nil
	case "":
	default:
		return Choice{}, fmt.Errorf("KTSTR_ACCEL=%q: want kvm or tcg", env)
	}
	f, err := os.OpenFile(kvmDev, os.O_RDWR, 0)
	if err != nil {
		return Choice{TCG, fmt.Sprintf("%s unusable: %v", kvmDev, err)}, nil
	}
	f.Close()
	info, err := os.ReadFile(cpuinfo)
	if err != nil {
		return Choice{TCG, fmt.Sprintf("cannot read %s: %v", cpuinfo, err)}, nil
	}
	if !hasVirtFlag(info) {
		return Choice{TCG, "no vmx/svm flag in " + cpuinfo + ": " + kvmDev + " cannot run real guests"}, nil
	}
	return Choice{KVM, kvmDev + " usable and CPU has hardware virtualization"}, nil
}

func hasVirtFlag(cpuinfo []byte) bool {
	for _, line := range bytes.Split(cpuinfo, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(bytes.TrimSpace(k)) != "flags" {
			continue
		}
		for _, f := range bytes.Fields(v) {
			if s := string(f); s == "vmx" || s == "svm" {
				return true
			}
		}
	}
	return false
}
