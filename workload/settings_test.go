package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestAffinity(t *testing.T) {
	allowed, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	last := allowed[len(allowed)-1]
	s, err := Start(Spec{Kind: CpuSpin(), Count: 2, Affinity: []int{last}})
	if err != nil {
		t.Fatal(err)
	}
	// Every thread of every worker is pinned, not only the work thread.
	for _, pid := range s.Pids() {
		for _, tid := range threadsOf(t, pid) {
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &set); err != nil {
				continue // exited
			}
			if set.Count() != 1 || !set.IsSet(last) {
				t.Errorf("pid %d thread %d: affinity of %d CPUs, want only %d", pid, tid, set.Count(), last)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if !slices.Equal(r.CPUs, []int{last}) || r.Migrations != 0 {
			t.Errorf("worker %d ran on %v with %d migrations, want only CPU %d", r.Index, r.CPUs, r.Migrations, last)
		}
	}
}

func TestAffinityFor(t *testing.T) {
	allowed, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	cpuOf := func(i int) int { return allowed[i%len(allowed)] }
	s, err := Start(Spec{Kind: AffinityChurn(), Count: 2, AffinityFor: func(i int) []int { return []int{cpuOf(i)} }})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reports {
		if !slices.Equal(r.CPUs, []int{cpuOf(i)}) {
			t.Errorf("worker %d ran on %v, want only CPU %d", i, r.CPUs, cpuOf(i))
		}
	}

	// A CPU that does not exist fails Start, naming the worker.
	_, err = Start(Spec{Kind: CpuSpin(), Count: 2, AffinityFor: func(i int) []int { return []int{maxCPUs - 1} }})
	if err == nil || !strings.Contains(err.Error(), "worker 0") || !strings.Contains(err.Error(), "set affinity") {
		t.Errorf("Start with an absent CPU: %v", err)
	}
}

func TestAffinityChurnMigrates(t *testing.T) {
	allowed, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skip("needs two CPUs")
	}
	s, err := Start(Spec{Kind: AffinityChurn(), Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[0]; r.Migrations == 0 || len(r.CPUs) < 2 {
		t.Errorf("AffinityChurn: %d migrations over CPUs %v", r.Migrations, r.CPUs)
	}
}

func TestPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy Policy
		nice   int
		want   uint32
	}{
		{Batch(), 5, unix.SCHED_BATCH},
		{Idle(), 0, unix.SCHED_IDLE},
		{Policy{}, 3, unix.SCHED_NORMAL},
		{FIFO(1), 0, unix.SCHED_FIFO},
		{RR(2), 0, unix.SCHED_RR},
	} {
		// Mostly asleep, to be gentle when the policy is real-time.
		s, err := Start(Spec{Kind: Bursty(time.Millisecond, 5*time.Millisecond), Count: 1, Policy: tt.policy, Nice: tt.nice})
		if err != nil {
			t.Fatal(err)
		}
		pid := s.Pids()[0]
		for _, tid := range threadsOf(t, pid) {
			attr, err := unix.SchedGetAttr(tid, 0)
			if err != nil {
				continue // exited
			}
			if attr.Policy != tt.want || int(attr.Priority) != tt.policy.Priority ||
				(tt.want != unix.SCHED_IDLE && int(attr.Nice) != tt.nice) {
				t.Errorf("%v nice %d: thread %d has policy %d nice %d", tt.policy, tt.nice, tid, attr.Policy, attr.Nice)
			}
		}
		if _, err := s.Stop(); err != nil {
			t.Error(err)
		}
	}
}

func TestMemPolicy(t *testing.T) {
	s, err := Start(Spec{Kind: CachePressure(1<<16, 64), Count: 1, MemPolicy: Bind(0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stop(); err != nil {
		t.Error(err)
	}
	_, err = Start(Spec{Kind: CpuSpin(), Count: 1, MemPolicy: Bind(maxNodes - 1)})
	if err == nil || !strings.Contains(err.Error(), "set_mempolicy") {
		t.Errorf("Start bound to an absent node: %v", err)
	}
}

func TestCgroup(t *testing.T) {
	root, rel := cgroup2Root(t)
	dir, err := os.MkdirTemp(filepath.Join(root, rel), "ktstr-workload-test-")
	if err != nil {
		t.Skipf("cannot create a cgroup under %s: %v", filepath.Join(root, rel), err)
	}
	defer func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	}()
	s, err := Start(Spec{Kind: PipeIo(), Count: 2, Cgroup: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := "0::/" + strings.TrimPrefix(dir, root+"/")
	for _, pid := range s.Pids() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(strings.TrimSpace(string(data)), "\n"), want) {
			t.Errorf("pid %d is in\n%s\nwant %s", pid, data, want)
		}
	}
	if _, err := s.Stop(); err != nil {
		t.Error(err)
	}

	_, err = Start(Spec{Kind: CpuSpin(), Count: 1, Cgroup: filepath.Join(dir, "absent")})
	if err == nil || !strings.Contains(err.Error(), "into "+filepath.Join(dir, "absent")) {
		t.Errorf("Start into an absent cgroup: %v", err)
	}
}

// cgroup2Root returns the mount point of the cgroup v2 hierarchy and the
// test process's cgroup in it, or skips.
func cgroup2Root(t *testing.T) (root, rel string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		// ... mount-point ... - fstype source options
		pre, post, ok := strings.Cut(line, " - ")
		if f := strings.Fields(pre); ok && strings.HasPrefix(post, "cgroup2 ") && len(f) >= 5 {
			root = f[4]
			break
		}
	}
	if root == "" {
		t.Skip("no cgroup v2 hierarchy mounted")
	}
	data, err = os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return root, p
		}
	}
	t.Skip("not in a cgroup v2 hierarchy")
	return "", ""
}
