package vm

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/topology"
	"golang.org/x/sys/unix"
)

// Performance mode's QEMU arguments, for KVM (the path that matters, and
// none here has) and TCG alike: the VM starts paused, each node's RAM is
// bound to its host nodes.
func TestPinningArgs(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, accel := range []Accel{KVM, TCG} {
		c := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: topology.New(2, 2, 1, 1), MemoryMB: 2048, Accel: accel,
			Pinning: &Pinning{VCPUs: []int{2, 5}, Service: 7, FIFO: true, Hugepages: true, HostNodes: [][]int{{0}, {1, 3}}}}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		args, err := c.Args()
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(args, " ")
		for _, w := range []string{
			"memory-backend-file,id=mem0,size=1073741824,mem-path=/dev/fd/5,share=on,host-nodes=0,policy=bind",
			"memory-backend-file,id=mem1,size=1073741824,mem-path=/dev/fd/6,share=on,host-nodes=1,host-nodes=3,policy=bind",
		} {
			if !strings.Contains(joined, w) {
				t.Errorf("%s: args lack %q:\n%s", accel, w, joined)
			}
		}
		if !slices.Contains(args, "-S") {
			t.Errorf("%s: args lack -S (start paused until pinned):\n%s", accel, joined)
		}
		if got := c.hostCPUs(); !slices.Equal(got, []int{2, 5, 7}) {
			t.Errorf("QEMU's starting affinity %v, want the pinned CPUs", got)
		}
		want := "-accel tcg,thread=multi" // one thread per vCPU, to pin
		if accel == KVM {
			want = "-accel kvm -cpu host"
		}
		if !strings.Contains(joined, want) {
			t.Errorf("%s: args lack %q", accel, want)
		}
	}
	// Without pinning: not paused, no binding, QEMU's affinity as given.
	c := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: topology.New(1, 1, 1, 1), MemoryMB: 256, Accel: KVM, HostCPUs: []int{1}}
	args, _ := c.Args()
	if slices.Contains(args, "-S") || strings.Contains(strings.Join(args, " "), "host-nodes") || !slices.Equal(c.hostCPUs(), []int{1}) {
		t.Errorf("unpinned args %q, affinity %v", args, c.hostCPUs())
	}
	for _, tc := range []struct {
		p    Pinning
		mem  int
		want string
	}{
		{Pinning{VCPUs: []int{0, 1}}, 256, "pinning places 2 vCPUs, the topology has 1"},
		{Pinning{VCPUs: []int{0}, Hugepages: true}, 255, "not a whole number of 2 MiB pages"},
	} {
		c := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: topology.New(1, 1, 1, 1), MemoryMB: tc.mem, Accel: TCG, Pinning: &tc.p}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want %q", err, tc.want)
		}
	}
}

// readThread reads what the kernel holds for a thread: here, this one,
// pinned to one CPU.
func TestReadThread(t *testing.T) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	done := make(chan PinnedThread)
	go func() {
		// A locked thread that exits with the goroutine: its affinity
		// never reaches another goroutine.
		runtime.LockOSThread()
		tid := unix.Gettid()
		place(tid, firstCPU(old), false, 0, nil)
		done <- readThread(os.Getpid(), tid)
	}()
	got := <-done
	if got.Allowed != strconv.Itoa(firstCPU(old)) || got.Policy != "normal" || got.Priority != 0 {
		t.Errorf("readThread = %+v, want CPU %d, normal 0", got, firstCPU(old))
	}
	if got := policyName(unix.SCHED_FIFO); got != "fifo" {
		t.Errorf("policyName(FIFO) = %q", got)
	}
}

func firstCPU(s unix.CPUSet) int {
	for c := 0; c < 1024; c++ {
		if s.IsSet(c) {
			return c
		}
	}
	return 0
}
