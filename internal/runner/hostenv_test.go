package runner

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/kernel"
	"github.com/ktstr-go/ktstr/vm"
)

// clearEnv unsets every KTSTR_* variable for the test.
func clearEnv(t *testing.T) {
	for _, v := range []string{EnvKernel, EnvAccel, EnvQEMU, EnvCacheDir, EnvScheduler, EnvJobs, EnvTimeout, EnvConsole, EnvResultsDir} {
		t.Setenv(v, "")
	}
}

func TestHostEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvCacheDir, t.TempDir())
	t.Setenv(EnvAccel, "tcg")

	// QEMU is looked for first: missing is a prerequisite, not a mistake.
	t.Setenv("PATH", t.TempDir())
	if _, err := HostEnvironment(); !errors.Is(err, ErrPrerequisite) || !strings.Contains(err.Error(), "qemu-system-x86_64 not found") {
		t.Errorf("without QEMU: error = %v", err)
	}
	// Then the kernel.
	t.Setenv(EnvQEMU, "/bin/true")
	if _, err := HostEnvironment(); !errors.Is(err, kernel.ErrNoKernel) || !errors.Is(err, ErrPrerequisite) {
		t.Errorf("without a kernel: error = %v, want ErrNoKernel and ErrPrerequisite", err)
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
	t.Setenv(EnvKernel, bz)
	env, err := HostEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	if env.Self != self || env.Image.BzImage != bz || env.Accel.Accel != vm.TCG || env.Accel.Reason != "KTSTR_ACCEL=tcg" {
		t.Errorf("HostEnvironment() = %+v; want Self %s, Kernel %s, TCG", env, self, bz)
	}
	// A KTSTR_KERNEL that names nothing is a mistake of the user's.
	t.Setenv(EnvKernel, "/nonexistent")
	var ee *EnvError
	if _, err := HostEnvironment(); !errors.As(err, &ee) || ee.Var != EnvKernel || errors.Is(err, ErrPrerequisite) {
		t.Errorf("KTSTR_KERNEL=/nonexistent: error = %v, want an EnvError", err)
	}
}

// Every invalid KTSTR_* value is an *EnvError naming the variable and the
// fix; before, KTSTR_TIMEOUT=abc made every VM test skip, and KTSTR_JOBS=abc
// was silently ignored.
func TestReadSettings(t *testing.T) {
	for _, tc := range []struct {
		v, val, want string
	}{
		{EnvTimeout, "abc", "positive duration"},
		{EnvTimeout, "-1s", "positive duration"},
		{EnvTimeout, "-1", "positive duration"},
		{EnvTimeout, "1000h", "at most 48h"},
		{EnvAccel, "kvmm", "kvm or tcg"},
		{EnvJobs, "abc", "whole number"},
		{EnvJobs, "0", "whole number"},
		{EnvQEMU, "/nonexistent/qemu", "no such executable"},
		{EnvConsole, "maybe", "not a boolean"},
		{EnvResultsDir, "relative/dir", "absolute"},
		{EnvCacheDir, "relative", "absolute"},
		{EnvScheduler, "/nonexistent/scx", "no such file"},
	} {
		t.Run(tc.v+"="+tc.val, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.v, tc.val)
			_, err := ReadSettings()
			var ee *EnvError
			if !errors.As(err, &ee) || ee.Var != tc.v || !strings.Contains(err.Error(), tc.want) || ee.Fix == "" {
				t.Fatalf("error = %v, want an EnvError for %s containing %q with a fix", err, tc.v, tc.want)
			}
			if !strings.Contains(err.Error(), tc.v+"=") {
				t.Errorf("error %q does not name the variable", err)
			}
		})
	}
	clearEnv(t)
	t.Setenv(EnvTimeout, "90s")
	t.Setenv(EnvJobs, "3")
	t.Setenv(EnvConsole, "1")
	t.Setenv(EnvAccel, "TCG")
	s, err := ReadSettings()
	if err != nil || s.Timeout != 90*time.Second || s.Jobs != 3 || !s.Console || s.Accel != "tcg" {
		t.Errorf("ReadSettings() = %+v, %v", s, err)
	}
}
