package threads

import (
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
)

func TestEach(t *testing.T) {
	// Start some threads that stay alive during the walk.
	var wg, ready sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			ready.Done()
			<-stop
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	ready.Wait() // each goroutine holds a thread of its own now
	seen := map[int]bool{}
	if err := Each(0, func(tid int) error { seen[tid] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if !seen[os.Getpid()] || len(seen) < 5 {
		t.Errorf("saw %d threads (main thread %v), want at least 5", len(seen), seen[os.Getpid()])
	}
	// Another process's threads, by pid.
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Process.Kill()
	var tids []int
	if err := Each(cmd.Process.Pid, func(tid int) error { tids = append(tids, tid); return nil }); err != nil || len(tids) != 1 || tids[0] != cmd.Process.Pid {
		t.Errorf("sleep's threads: %v, %v", tids, err)
	}
	// A process that is gone is no error.
	if err := Each(1<<22+12345, func(int) error { t.Error("called"); return nil }); err != nil {
		t.Errorf("gone process: %v", err)
	}
}
