package ktstr_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ktstr-go/ktstr"
)

// fixture is the project's own sched_ext scheduler (cmd/scx_fixture): a
// global FIFO with knobs that break it on purpose.
var fixture = ktstr.Scheduler{
	Name:   "fixture",
	Binary: ktstr.Discover("scx_fixture"),
	Flags: []ktstr.Flag{
		{Name: "verbose", Args: []string{"-v"}},
		{Name: "degrade", Args: []string{"--degrade", "50"}},
		{Name: "harsh", Args: []string{"--degrade", "90"}, Requires: []ktstr.FlagName{"degrade"}},
	},
}

// sleepFor runs for the test's duration, so the scheduler is exercised
// while the test function runs.
func sleepFor(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
	time.Sleep(ctx.Duration)
	return ktstr.Pass(), nil
}

// TestProfileArgsReachScheduler: a profile's flag arguments, the test's
// extra arguments and the scheduler's own arguments reach the scheduler's
// command line in the guest, in order.
func TestProfileArgsReachScheduler(t *testing.T) {
	t.Parallel()
	s := fixture
	s.SchedArgs = []string{"--watchdog-ms", "20000"}
	test := ktstr.Test{Scheduler: &s, RequiredFlags: []ktstr.FlagName{"verbose", "degrade"}, ExcludedFlags: []ktstr.FlagName{"harsh"},
		ExtraSchedArgs: []string{"--error-after", "0"}, MemoryMB: 512}
	ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		cmdline, err := schedulerCmdline("scx_fixture")
		if err != nil {
			return ktstr.Fail("%v", err), nil
		}
		want := "/ktstr/sched/scx_fixture --watchdog-ms 20000 --error-after 0 -v --degrade 50"
		if cmdline != want {
			return ktstr.Fail("scheduler command line %q, want %q", cmdline, want), nil
		}
		return ktstr.Pass(), nil
	})
}

// schedulerCmdline returns the command line of the process called comm.
func schedulerCmdline(comm string) (string, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		c, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(c)) != comm {
			continue
		}
		raw, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			return "", err
		}
		return strings.TrimRight(strings.ReplaceAll(string(raw), "\x00", " "), " "), nil
	}
	return "", os.ErrNotExist
}

// TestFixtureStallExpected and TestFixtureErrorExpected: a broken scheduler
// fails the run, so with ExpectErr the test passes. TestFailureModes checks
// the failure messages.
func TestFixtureStallExpected(t *testing.T) {
	t.Parallel()
	s := fixture
	s.SchedArgs = []string{"--stall-after", "300"}
	ktstr.Run(t, ktstr.Test{Scheduler: &s, MemoryMB: 512, ExpectErr: true}, sleepFor)
}

func TestFixtureErrorExpected(t *testing.T) {
	t.Parallel()
	s := fixture
	s.SchedArgs = []string{"--error-after", "300"}
	ktstr.Run(t, ktstr.Test{Scheduler: &s, MemoryMB: 512, ExpectErr: true}, sleepFor)
}

// TestBpfMapWrite: the host's BpfMapWrite lands in the scheduler's map once
// it attached; the test function reads it back with cilium/ebpf.
func TestBpfMapWrite(t *testing.T) {
	t.Parallel()
	key := binary.LittleEndian.AppendUint32(nil, 4_000_000) // a tgid no process has
	value := binary.LittleEndian.AppendUint64(nil, 42)
	test := ktstr.Test{Scheduler: &fixture, MemoryMB: 512,
		BpfMapWrite: &ktstr.BpfMapWrite{Map: "groups", Key: key, Value: value}}
	ktstr.Run(t, test, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		m, err := mapByName("groups")
		if err != nil {
			return ktstr.Fail("%v", err), nil
		}
		defer m.Close()
		var got uint64
		if err := m.Lookup(uint32(4_000_000), &got); err != nil {
			return ktstr.Fail("look up the written key: %v", err), nil
		}
		if got != 42 {
			return ktstr.Fail("map value %d, want 42", got), nil
		}
		return ktstr.Pass(), nil
	})
}

func mapByName(name string) (*ebpf.Map, error) {
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			return nil, fmt.Errorf("no BPF map %q: %w", name, err)
		}
		id = next
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		if info, err := m.Info(); err == nil && info.Name == name {
			return m, nil
		}
		m.Close()
	}
}

// TestSchedulerConfigAndKernelArgs: a scheduler's ConfigFile is packed into
// the guest and passed as --config, and its KernelArgs reach the guest
// kernel's command line.
func TestSchedulerConfigAndKernelArgs(t *testing.T) {
	t.Parallel()
	const conf = "# fixture knobs\n--watchdog-ms=25000\n"
	s := fixture
	s.KernelArgs = []string{"ktstr.test_marker=42"}
	if !ktstr.InGuest() {
		s.ConfigFile = filepath.Join(t.TempDir(), "fixture.conf")
		if err := os.WriteFile(s.ConfigFile, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ktstr.Run(t, ktstr.Test{Scheduler: &s, MemoryMB: 512}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		cmdline, _ := os.ReadFile("/proc/cmdline")
		if !strings.Contains(string(cmdline), " ktstr.test_marker=42") {
			return ktstr.Fail("kernel command line lacks the scheduler's KernelArgs: %s", cmdline), nil
		}
		sched, err := schedulerCmdline("scx_fixture")
		if err != nil || sched != "/ktstr/sched/scx_fixture --config /ktstr/sched-config/fixture.conf" {
			return ktstr.Fail("scheduler command line %q (%v)", sched, err), nil
		}
		got, err := os.ReadFile("/ktstr/sched-config/fixture.conf")
		if err != nil || string(got) != conf {
			return ktstr.Fail("config file in the guest: %q (%v)", got, err), nil
		}
		return ktstr.Pass(), nil
	})
}
