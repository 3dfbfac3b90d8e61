package kernel

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestLineCounter(t *testing.T) {
	log := "  SYNC    include/config/auto.conf.cmd\n" +
		"  HOSTCC  scripts/basic/fixdep\n" +
		"  CC      kernel/sched/ext.o\n" +
		"  AS      arch/x86/entry/entry_64.o\n" +
		"  AR      kernel/built-in.a\n" +
		"  LD      vmlinux.o\n" +
		"  CC      init/main.o\n" +
		"make[1]: Leaving directory\n"
	// Every split of the stream into two writes counts the same.
	for cut := 0; cut <= len(log); cut++ {
		var seen []int
		c := &lineCounter{onLine: func(n int) { seen = append(seen, n) }}
		io.WriteString(c, log[:cut])
		io.WriteString(c, log[cut:])
		if c.count() != 4 || fmt.Sprint(seen) != "[1 2 3 4]" {
			t.Fatalf("cut %d: count %d, calls %v; want 4", cut, c.count(), seen)
		}
	}
}

func TestEstimate(t *testing.T) {
	dir := t.TempDir()
	lines, eta := estimate(dir, 1)
	if lines != defaultBuildLines || !strings.Contains(eta, "on 1 core") {
		t.Errorf("default estimate = %d, %q", lines, eta)
	}
	if err := writeStats(dir, buildStats{Lines: 1234, Seconds: 600, Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	if lines, eta := estimate(dir, 1); lines != 1234 || eta != "about 10 min on 1 core" {
		t.Errorf("recorded estimate = %d, %q", lines, eta)
	}
}
