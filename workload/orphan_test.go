package workload

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envOrphanHelper = "KTSTR_WORKLOAD_TEST_ORPHAN_HELPER"

// TestOrphanedWorkersStop kills the process that started workers and checks
// that the workers stop by themselves (their life pipe closes).
func TestOrphanedWorkersStop(t *testing.T) {
	if os.Getenv(envOrphanHelper) != "" {
		orphanHelper()
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(exe, "-test.run=^TestOrphanedWorkersStop$")
	helper.Env = append(os.Environ(), envOrphanHelper+"=1")
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Wait()
	defer helper.Process.Kill()
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			for _, f := range strings.Fields(rest) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
			break
		}
	}
	if len(pids) == 0 {
		t.Fatalf("the helper reported no workers (%v)", sc.Err())
	}
	time.Sleep(50 * time.Millisecond)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("orphaned worker %d still running", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// orphanHelper starts workers, prints their pids and waits to be killed.
func orphanHelper() {
	var pids []string
	for _, k := range []Kind{PipeIo(), FutexPingPong(), Bursty(time.Millisecond, 50*time.Millisecond)} {
		s, err := Start(Spec{Kind: k, Count: 2})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, pid := range s.Pids() {
			pids = append(pids, strconv.Itoa(pid))
		}
	}
	fmt.Println("PIDS " + strings.Join(pids, " "))
	select {}
}
