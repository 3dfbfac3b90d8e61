package runner

import (
	"fmt"
	"os"

	"github.com/ktstr-go/ktstr/kernel"
	"github.com/ktstr-go/ktstr/vm"
)

// HostEnv is what booting a VM needs from the host.
type HostEnv struct {
	// Self is the running binary, which becomes the guest's /init.
	Self string
	// Kernel is the kernel image ([kernel.Resolve]'s BzImage).
	Kernel string
	// Accel is the accelerator [vm.ChooseAccel] picked, and why.
	Accel vm.Choice
}

// HostEnvironment finds what booting a VM needs, in this order: the running
// binary, QEMU ([vm.QEMUBinary]), the kernel ([kernel.Resolve]) and the
// accelerator ([vm.ChooseAccel]). The error is the first missing one's,
// unwrapped, so that it says what to install or set.
func HostEnvironment() (HostEnv, error) {
	self, err := os.Executable()
	if err != nil {
		return HostEnv{}, fmt.Errorf("find own executable (the guest's init): %w", err)
	}
	if _, err := vm.QEMUBinary(); err != nil {
		return HostEnv{}, err
	}
	img, err := kernel.Resolve()
	if err != nil {
		return HostEnv{}, err
	}
	accel, err := vm.ChooseAccel()
	if err != nil {
		return HostEnv{}, err
	}
	return HostEnv{Self: self, Kernel: img.BzImage, Accel: accel}, nil
}
