package runner

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/kernel"
	"github.com/ktstr-go/ktstr/vm"
)

func TestHostEnvironment(t *testing.T) {
	t.Setenv("KTSTR_CACHE_DIR", t.TempDir())
	t.Setenv("KTSTR_KERNEL", "")
	t.Setenv("KTSTR_ACCEL", "tcg")

	// QEMU is looked for first.
	t.Setenv("KTSTR_QEMU", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := HostEnvironment(); err == nil || !strings.Contains(err.Error(), "qemu-system-x86_64 not found") {
		t.Errorf("without QEMU: error = %v", err)
	}
	// Then the kernel.
	t.Setenv("KTSTR_QEMU", "/bin/true")
	if _, err := HostEnvironment(); !errors.Is(err, kernel.ErrNoKernel) {
		t.Errorf("without a kernel: error = %v, want ErrNoKernel", err)
	}
	// A bzImage given by path.
	bz := filepath.Join(t.TempDir(), "bzImage")
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x20e:], 0x100)
	copy(b[0x300:], "6.12.57 (root@host) #1 SMP\x00")
	if err := os.WriteFile(bz, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KTSTR_KERNEL", bz)
	env, err := HostEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	if env.Self != self || env.Kernel != bz || env.Accel.Accel != vm.TCG {
		t.Errorf("HostEnvironment() = %+v; want Self %s, Kernel %s, TCG", env, self, bz)
	}
	// Then the accelerator.
	t.Setenv("KTSTR_ACCEL", "bogus")
	if _, err := HostEnvironment(); err == nil || !strings.Contains(err.Error(), `KTSTR_ACCEL="bogus"`) {
		t.Errorf("bad KTSTR_ACCEL: error = %v", err)
	}
}
