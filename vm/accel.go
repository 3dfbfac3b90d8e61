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

// ChooseAccel picks the accelerator: override when it is "kvm" or "tcg"
// (any other non-empty value is an error); otherwise KVM when /dev/kvm opens
// read-write and the CPU advertises hardware virtualization (vmx or svm),
// else TCG.
func ChooseAccel(override string) (Choice, error) {
	return chooseAccel(override, "/dev/kvm", "/proc/cpuinfo")
}

// ParseAccel parses an accelerator name, "kvm" or "tcg" (in any case).
func ParseAccel(s string) (Accel, error) {
	switch a := Accel(strings.ToLower(s)); a {
	case KVM, TCG:
		return a, nil
	}
	return "", fmt.Errorf("accelerator %q: want kvm or tcg", s)
}

func chooseAccel(override, kvmDev, cpuinfo string) (Choice, error) {
	if override != "" {
		a, err := ParseAccel(override)
		if err != nil {
			return Choice{}, err
		}
		return Choice{a, "asked for " + string(a)}, nil
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
