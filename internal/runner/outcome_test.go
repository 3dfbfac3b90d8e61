package runner

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/vm"
)

func TestErrClassification(t *testing.T) {
	spec := &Spec{Accel: vm.TCG, Job: proto.Job{Topology: topology.New(1, 1, 2, 1)}}
	console := []string{"[ 1.0] boot", "[ 2.0] Kernel panic - not syncing: sysrq triggered crash", "[ 2.1] ---[ end"}
	for _, tc := range []struct {
		name string
		o    Outcome
		kind error
		msg  string
	}{
		{"ok", Outcome{Done: &proto.Done{}}, nil, ""},
		{"guest failure", Outcome{Done: &proto.Done{Failure: "scheduler died", Detail: "l1\nl2"}}, ErrGuest, "scheduler died"},
		{"kernel panic", Outcome{VM: vm.Result{Console: console}}, ErrKernelPanic, "guest kernel panic: Kernel panic - not syncing: sysrq triggered crash"},
		{"timeout", Outcome{VM: vm.Result{Killed: "timeout after 1m0s", ExitCode: -1}}, ErrTimeout, "host-side 1m0s limit (tcg, 2 vCPUs)"},
		{"canceled", Outcome{VM: vm.Result{Killed: "canceled: go test -timeout is about to expire"}}, ErrCanceled, "go test -timeout"},
		{"qemu", Outcome{VM: vm.Result{ExitCode: 1, Stderr: []string{"qemu: bad option"}}}, ErrQEMU, "QEMU exited with status 1: qemu: bad option"},
		{"silent", Outcome{}, ErrNoDone, "without reporting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.spec = spec
			err := tc.o.Err()
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Err = %v, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestGuestErrorFormat(t *testing.T) {
	var console []string
	for i := 0; i < 100; i++ {
		console = append(console, fmt.Sprintf("line %d", i))
	}
	e := &GuestError{Kind: ErrTimeout, Summary: "hung", Console: console, Command: "qemu-system-x86_64 -m 1"}
	short := fmt.Sprintf("%v", e)
	if !strings.Contains(short, "line 99") || strings.Contains(short, "line 59\n") || strings.Contains(short, "QEMU command") {
		t.Errorf("%%v should show the last 40 console lines only:\n%s", short)
	}
	long := fmt.Sprintf("%+v", e)
	if !strings.Contains(long, "line 0\n") || !strings.Contains(long, "qemu-system-x86_64 -m 1") {
		t.Errorf("%%+v should show the whole tail and the command:\n%s", long)
	}
	if fmt.Sprintf("%s", e) != "hung" {
		t.Errorf("%%s = %q", fmt.Sprintf("%s", e))
	}
}
