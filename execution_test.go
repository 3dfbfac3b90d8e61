package ktstr_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
)

// TestExpectErr: a failing run passes the test when ExpectErr is set.
func TestExpectErr(t *testing.T) {
	t.Parallel()
	ktstr.Run(t, ktstr.Test{MemoryMB: 256, ExpectErr: true}, func(*ktstr.Ctx) (ktstr.AssertResult, error) {
		return ktstr.Fail("this failure is expected"), nil
	})
}

// TestExpectErrInverts: a run that succeeds fails the test when ExpectErr
// is set.
func TestExpectErrInverts(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	// Not parallel: the helper's VM runs before the parallel tests queue up
	// for VM slots.
	h := startHelper(t, "expect-err-but-pass", nil)
	code, out := h.wait(10 * time.Minute)
	if code == 0 || !strings.Contains(out, "ExpectErr: the run passed, want a failure of the system under test") {
		t.Errorf("exit code %d, want a failure saying ExpectErr was not met; output:\n%s", code, out)
	}
	h.checkNothingLeft()
}

// TestReplicas: Replicas boots one VM per replica, each a subtest.
func TestReplicas(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	h := startHelper(t, "replicas", nil) // not parallel, as above
	code, out := h.wait(10 * time.Minute)
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out)
	}
	for _, want := range []string{
		"--- PASS: TestHelperFailure/replicas/replica_1", "--- PASS: TestHelperFailure/replicas/replica_2",
		"--- PASS: TestHelperFailure/replicas/replica_3", "guest: replica 1 of 3", "guest: replica 3 of 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; output:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "boot to test function"); n != 3 {
		t.Errorf("%d VMs booted, want 3", n)
	}
}

// TestIncludeFiles: host files reach the guest under /include-files, and a
// dynamically linked binary runs there with the libraries packed for it.
func TestIncludeFiles(t *testing.T) {
	t.Parallel()
	// This part runs in the guest too, where neither file exists: only the
	// host needs the list.
	test := ktstr.Test{MemoryMB: 256}
	if !ktstr.InGuest() {
		data := filepath.Join(t.TempDir(), "payload.txt")
		if err := os.WriteFile(data, []byte("payload from the host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env, err := exec.LookPath("env")
		if err != nil {
			t.Skip("no env binary on the host")
		}
		test.IncludeFiles = []string{data, env}
	}
	ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		got, err := os.ReadFile(ctx.IncludeFile("payload.txt"))
		if err != nil {
			return ktstr.Fail("payload: %v", err), nil
		}
		if string(got) != "payload from the host\n" {
			return ktstr.Fail("payload is %q", got), nil
		}
		out, err := exec.Command(ctx.IncludeFile("env"), "KTSTR_PROBE=1").Output()
		if err != nil {
			return ktstr.Fail("run the packed dynamic binary: %v", err), nil
		}
		if !strings.Contains(string(out), "KTSTR_PROBE=1") {
			return ktstr.Fail("env printed %q", out), nil
		}
		return ktstr.Pass(), nil
	})
}
