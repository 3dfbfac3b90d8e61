package childproc

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// StartOn's child runs on the CPUs given; the caller's threads keep theirs.
func TestStartOn(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for c := 0; c < 1024 && cpu < 0; c++ {
		if set.IsSet(c) {
			cpu = c
		}
	}
	var out strings.Builder
	cmd := exec.Command("grep", "Cpus_allowed_list", "/proc/self/status")
	cmd.Stdout = &out
	wait, err := StartOn(cmd, []int{cpu})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); len(got) != 2 || got[1] != strconv.Itoa(cpu) {
		t.Errorf("child's affinity %q, want CPU %d", out.String(), cpu)
	}
	var after unix.CPUSet
	_ = unix.SchedGetaffinity(0, &after)
	if after != set {
		t.Error("the caller's affinity changed")
	}
}
