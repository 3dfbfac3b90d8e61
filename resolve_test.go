package ktstr

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

func TestResolveValidation(t *testing.T) {
	sched := &Scheduler{Name: "s", Binary: Discover("scx_s"), Flags: []Flag{{Name: "llc"}, {Name: "steal", Requires: []FlagName{"llc"}}}}
	badTopo := &Scheduler{Name: "bad", Binary: Discover("scx_bad"), Topology: Topo(1, -1, 2, 1)}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		test Test
		want string // substring of the error; "" means valid
	}{
		{"defaults", Test{}, ""},
		{"negative LLCs", Test{LLCs: -1}, "LLCs is -1: must be at least 1"},
		{"negative cores", Test{Cores: -2}, "Cores is -2"},
		{"negative threads", Test{Threads: -1}, "Threads is -1"},
		{"negative NUMA", Test{NumaNodes: -1}, "NumaNodes is -1"},
		{"negative memory", Test{MemoryMB: -5}, "MemoryMB is -5"},
		{"negative duration", Test{DurationS: -1}, "DurationS is -1"},
		{"negative workers", Test{WorkersPerCgroup: -1}, "WorkersPerCgroup is -1"},
		{"negative replicas", Test{Replicas: -3}, "Replicas is -3"},
		{"zero LLCs from scheduler", Test{Scheduler: badTopo}, `Scheduler "bad" Topology.LLCs is -1`},
		{"LLCs not divisible by NUMA", Test{NumaNodes: 2, LLCs: 3}, "cannot be split evenly across 2 NUMA nodes"},
		{"too many CPUs", Test{LLCs: 64, Cores: 8, Threads: 2}, "1024 CPUs"},
		{"too little memory per node", Test{NumaNodes: 4, LLCs: 4, MemoryMB: 128}, "MemoryMB is 128: 4 NUMA nodes need at least 64 MB each"},
		{"sockets alias", Test{Sockets: 2}, ""},
		{"sockets and LLCs agree", Test{Sockets: 2, LLCs: 2}, ""},
		{"sockets and LLCs differ", Test{Sockets: 2, LLCs: 3}, "Sockets (2) and LLCs (3) differ"},
		{"min above max LLCs", Test{MinLLCs: 4, MaxLLCs: 2}, "MinLLCs (4) is above MaxLLCs (2)"},
		{"min above max CPUs", Test{MinCPUs: 9, MaxCPUs: 8}, "MinCPUs (9) is above MaxCPUs (8)"},
		{"min above max NUMA", Test{MinNumaNodes: 2, MaxNumaNodes: 1}, "MinNumaNodes (2) is above MaxNumaNodes (1)"},
		{"min above inherited max NUMA", Test{MinNumaNodes: 2}, "merged topology constraints: MinNumaNodes (2) is above MaxNumaNodes (1)"},
		{"negative threshold", Test{MaxGapMs: Val(-1)}, "MaxGapMs is -1: thresholds cannot be negative"},
		{"spread above 100", Test{MaxSpreadPct: Val(150)}, "MaxSpreadPct is 150"},
		{"fractional samples", Test{SustainedSamples: Val(1.5)}, "SustainedSamples is 1.5"},
		{"disabled threshold", Test{MaxGapMs: Disabled}, ""},
		{"bad Bool", Test{NotStarved: Bool(7)}, "NotStarved is Bool(7)"},
		{"unknown required flag", Test{Scheduler: sched, RequiredFlags: []FlagName{"nope"}}, `RequiredFlags: unknown flag "nope"`},
		{"no valid profile", Test{Scheduler: sched, RequiredFlags: []FlagName{"steal"}, ExcludedFlags: []FlagName{"llc"}}, `required flag "steal" needs "llc", which is excluded`},
		{"reserved kernel arg", Test{Scheduler: &Scheduler{Name: "k", Binary: Discover("k"), KernelArgs: []string{"console=tty0"}}}, "the harness owns the serial console"},
		{"reserved kernel arg, dashes", Test{Scheduler: &Scheduler{Name: "k", Binary: Discover("k"), KernelArgs: []string{"panic-on-oops=0"}}}, `"panic-on-oops=0"`},
		{"reserved kernel arg, sysctl", Test{Scheduler: &Scheduler{Name: "k", Binary: Discover("k"), KernelArgs: []string{"sysctl.kernel.panic=0"}}}, `"sysctl.kernel.panic=0"`},
		{"reserved kernel arg, tab", Test{Scheduler: &Scheduler{Name: "k", Binary: Discover("k"), KernelArgs: []string{"a=1\tpanic=0"}}}, "KernelArgs"},
		{"reserved kernel arg for EEVDF", Test{Scheduler: &Scheduler{Name: "e", KernelArgs: []string{"loglevel=0"}}}, `"loglevel=0"`},
		{"reserved sysctl", Test{Scheduler: &Scheduler{Name: "k", Binary: Discover("k"), Sysctls: map[string]string{"kernel.panic_on_oops": "0"}}}, "kernel.panic_on_oops"},
		{"escaping sysctl", Test{Scheduler: &Scheduler{Name: "k", Binary: Discover("k"), Sysctls: map[string]string{"../sysrq-trigger": "c"}}}, "sysrq-trigger"},
		{"absurd LLCs", Test{LLCs: 4611686018427387904}, "LLCs is 4611686018427387904: at most 512"},
		{"absurd duration", Test{DurationS: 1 << 40}, "DurationS is 1099511627776: at most 3600"},
		{"absurd watchdog", Test{WatchdogTimeoutS: 1 << 40}, "WatchdogTimeoutS is 1099511627776: at most 3600"},
		{"absurd replicas", Test{Replicas: 1 << 30}, "Replicas is 1073741824: at most 1000"},
		{"absurd memory", Test{MemoryMB: 1 << 40}, "MemoryMB is 1099511627776: at most 1048576"},
		{"scheduler topology absurd", Test{Scheduler: &Scheduler{Name: "t", Binary: Discover("t"), Topology: Topo(1, 1<<40, 1, 1)}}, "Topology.LLCs is 1099511627776"},
		{"expect check with other kind", Test{ExpectFailure: Expect{Kind: KernelPanic, Check: "gap"}}, "a check id only goes with kind check-failed"},
		{"expect unknown kind", Test{ExpectFailure: Expect{Kind: "fine"}}, `expected failure kind "fine"`},
		{"args for EEVDF", Test{ExtraSchedArgs: []string{"-v"}}, "ExtraSchedArgs given but the test has no Scheduler"},
		{"missing config file", Test{Scheduler: &Scheduler{Name: "c", Binary: Discover("c"), ConfigFile: "/nonexistent.json"}}, `ConfigFile "/nonexistent.json"`},
		{"unknown excluded flag", Test{Scheduler: sched, ExcludedFlags: []FlagName{"nope"}}, `ExcludedFlags: unknown flag "nope"`},
		{"required and excluded", Test{Scheduler: sched, RequiredFlags: []FlagName{"llc"}, ExcludedFlags: []FlagName{"llc"}}, `flag "llc" is both required and excluded`},
		{"flags without scheduler", Test{RequiredFlags: []FlagName{"llc"}}, `unknown flag "llc"`},
		{"map write without scheduler", Test{BpfMapWrite: &BpfMapWrite{Map: "m", Key: []byte{0}, Value: []byte{1}}}, "BpfMapWrite needs a sched_ext Scheduler"},
		{"map write bad name", Test{Scheduler: sched, BpfMapWrite: &BpfMapWrite{Map: "a_name_longer_than_15", Key: []byte{0}, Value: []byte{1}}}, "must name a BPF map"},
		{"missing include file", Test{IncludeFiles: []string{"/nonexistent/x"}}, `IncludeFiles "/nonexistent/x"`},
		{"include file dir", Test{IncludeFiles: []string{"/"}}, "not a regular file"},
		{"include file clash", Test{IncludeFiles: []string{file, "/etc/hostname", filepath.Join(t.TempDir(), "f")}}, "both would be /include-files/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "include file clash" {
				if err := os.WriteFile(tc.test.IncludeFiles[2], nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := resolve(tc.test)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("resolve: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("resolve succeeded, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("resolve error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestResolveReportsEveryError(t *testing.T) {
	_, err := resolve(Test{LLCs: -1, Replicas: -1, MaxGapMs: Val(-3)})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"LLCs is -1", "Replicas is -1", "MaxGapMs is -3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestResolveInheritance(t *testing.T) {
	sched := &Scheduler{Name: "s", Binary: Discover("scx_s"), Topology: Topo(1, 2, 4, 1),
		Checks: Checks{MaxGapMs: Val(5000), Isolation: On}}
	for _, tc := range []struct {
		name string
		test Test
		want topology.Topology
	}{
		{"framework defaults", Test{}, Topo(1, 1, 2, 1)},
		{"test only", Test{LLCs: 2, Cores: 4, Threads: 2}, Topo(1, 2, 4, 2)},
		{"scheduler topology", Test{Scheduler: sched}, Topo(1, 2, 4, 1)},
		{"per-dimension override", Test{Scheduler: sched, Threads: 2}, Topo(1, 2, 4, 2)},
		{"sockets alias over scheduler", Test{Scheduler: sched, Sockets: 4}, Topo(1, 4, 4, 1)},
		{"partial scheduler topology", Test{Scheduler: &Scheduler{Name: "p", Binary: Discover("p"), Topology: Topology{Cores: 3}}}, Topo(1, 1, 3, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := resolve(tc.test)
			if err != nil {
				t.Fatal(err)
			}
			if p.Topology != tc.want {
				t.Errorf("topology %s, want %s", p.Topology, tc.want)
			}
		})
	}
	p, err := resolve(Test{Scheduler: sched, Isolation: Off})
	if err != nil {
		t.Fatal(err)
	}
	if p.MemoryMB != 2048 || p.Duration != 2*time.Second || p.Workers != 2 || p.Replicas != 1 || p.Scheduler.Watchdog != 4*time.Second || !p.AutoRepro || p.Expect != nil {
		t.Errorf("execution defaults: %+v", p)
	}
	if v, _ := p.Checks.MaxGapMs.Value(); v != 5000 {
		t.Errorf("MaxGapMs %v, want the scheduler's 5000", p.Checks.MaxGapMs)
	}
	if p.Checks.Isolation != verify.Off {
		t.Errorf("Isolation %v, want the test's Off over the scheduler's On", p.Checks.Isolation)
	}
	if v, _ := p.Checks.MaxSpreadPct.Value(); v != 15 || !p.Checks.NotStarved.True() {
		t.Errorf("framework defaults lost: %+v", p.Checks)
	}
	if p, _ := resolve(Test{ExpectErr: true}); p.AutoRepro || p.Expect == nil || *p.Expect != (Expect{}) {
		t.Errorf("ExpectErr: AutoRepro %v, Expect %v; want off and the default expectation", p.AutoRepro, p.Expect)
	}
	if p, _ := resolve(Test{ExpectFailure: ExpectCheck("spread")}); p.Expect == nil || p.Expect.Check != "spread" || p.AutoRepro {
		t.Errorf("ExpectFailure implies ExpectErr: Expect %v, AutoRepro %v", p.Expect, p.AutoRepro)
	}
}

// The Test struct carries every setting of verify's table of checks, with
// the same name and type: resolve copies them by name, so a check added to
// the table without its Test field (or the other way round) fails here.
func TestTestFieldsMatchChecks(t *testing.T) {
	c, err := verify.FromStruct(Test{MaxGapMs: Val(7), Isolation: On})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.MaxGapMs.Value(); v != 7 || c.Isolation != On {
		t.Errorf("FromStruct lost values: %+v", c)
	}
	tt := reflect.TypeOf(Test{})
	for _, s := range verify.Settings() {
		if _, ok := tt.FieldByName(s.Field); !ok {
			t.Errorf("verify's table has %s, ktstr.Test has no such field", s.Field)
		}
	}
}

func TestImportPath(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("// c\nmodule example.com/m\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := importPath(sub); got != "example.com/m/a/b" {
		t.Errorf("importPath(sub) = %q", got)
	}
	if got := importPath(root); got != "example.com/m" {
		t.Errorf("importPath(root) = %q", got)
	}
	if got := importPath("/"); got != "/" {
		t.Errorf("importPath(/) = %q", got)
	}
}
