package ktstr

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/scheduler"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// Framework defaults of the reference page.
const (
	defaultMemoryMB         = 2048
	defaultDurationS        = 2
	defaultWorkersPerCgroup = 2
	defaultReplicas         = 1
	defaultWatchdogS        = 4
)

var defaultTopology = topology.New(1, 1, 2, 1)

// plan is a Test with inheritance resolved and everything validated.
type plan struct {
	test        Test
	topo        topology.Topology
	memoryMB    int
	duration    time.Duration
	workers     int
	replicas    int
	watchdog    time.Duration
	checks      verify.Config
	constraints gauntlet.Constraints
	autoRepro   bool
	include     []string // absolute host paths
	profile     scheduler.Profile
	schedArgs   []string // the scheduler's command line, guest paths
	schedBinary string   // host path of the scheduler binary; "" for EEVDF
}

// locateScheduler finds the scheduler binary on the host, so that a
// missing one is reported before any VM boots.
func (p *plan) locateScheduler() error {
	s := p.test.Scheduler
	if s.IsEEVDF() {
		return nil
	}
	bin, err := s.Binary.Resolve()
	if err != nil {
		return fmt.Errorf("scheduler %s: %w", s.DisplayName(), err)
	}
	p.schedBinary = bin
	return nil
}

// Guest paths of the scheduler binary and its config file.
const (
	guestSchedDir    = "/ktstr/sched"
	guestSchedConfig = "/ktstr/sched-config"
)

// resolve applies inheritance (test, then scheduler, then defaults) and
// validates the result. Every error names the field and the rule.
func resolve(t Test) (*plan, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, f := range []struct {
		name string
		v    int
	}{
		{"NumaNodes", t.NumaNodes}, {"LLCs", t.LLCs}, {"Sockets", t.Sockets}, {"Cores", t.Cores},
		{"Threads", t.Threads}, {"MemoryMB", t.MemoryMB}, {"DurationS", t.DurationS},
		{"WorkersPerCgroup", t.WorkersPerCgroup}, {"Replicas", t.Replicas}, {"WatchdogTimeoutS", t.WatchdogTimeoutS},
	} {
		if f.v < 0 {
			bad("%s is %d: must be at least 1 (leave it 0 to inherit the default)", f.name, f.v)
		}
	}
	llcs := t.LLCs
	if t.Sockets != 0 {
		if llcs != 0 && llcs != t.Sockets {
			bad("Sockets (%d) and LLCs (%d) differ: Sockets is an alias of LLCs, set one of them", t.Sockets, t.LLCs)
		}
		llcs = t.Sockets
	}

	var schedTopo topology.Topology
	var schedChecks verify.Config
	var schedCons gauntlet.Constraints
	if s := t.Scheduler; s != nil {
		schedTopo, schedChecks, schedCons = s.Topology, s.Checks, s.Constraints
		for _, f := range []struct {
			name string
			v    int
		}{{"NumaNodes", schedTopo.NumaNodes}, {"LLCs", schedTopo.LLCs}, {"Cores", schedTopo.Cores}, {"Threads", schedTopo.Threads}} {
			if f.v < 0 {
				bad("Scheduler %q Topology.%s is %d: must be at least 1", s.DisplayName(), f.name, f.v)
			}
		}
		if err := schedChecks.Validate(); err != nil {
			bad("Scheduler %q Checks: %w", s.DisplayName(), err)
		}
		if err := schedCons.Validate(); err != nil {
			bad("Scheduler %q Constraints: %w", s.DisplayName(), err)
		}
	}
	p := &plan{
		test: t,
		topo: topology.New(
			first(t.NumaNodes, schedTopo.NumaNodes, defaultTopology.NumaNodes),
			first(llcs, schedTopo.LLCs, defaultTopology.LLCs),
			first(t.Cores, schedTopo.Cores, defaultTopology.Cores),
			first(t.Threads, schedTopo.Threads, defaultTopology.Threads)),
		memoryMB: first(t.MemoryMB, defaultMemoryMB),
		duration: time.Duration(first(t.DurationS, defaultDurationS)) * time.Second,
		workers:  first(t.WorkersPerCgroup, defaultWorkersPerCgroup),
		replicas: first(t.Replicas, defaultReplicas),
		watchdog: time.Duration(first(t.WatchdogTimeoutS, defaultWatchdogS)) * time.Second,
	}
	if len(errs) == 0 {
		if err := p.topo.Validate(); err != nil {
			bad("topology %s: %w", p.topo, err)
		} else if p.memoryMB < topology.MinNodeMemoryMB*p.topo.NumaNodes {
			bad("MemoryMB is %d: %d NUMA nodes need at least %d MB each", p.memoryMB, p.topo.NumaNodes, topology.MinNodeMemoryMB)
		}
	}

	tc := t.checks()
	if err := tc.Validate(); err != nil {
		errs = append(errs, err)
	}
	p.checks = verify.Merge(verify.Defaults(), schedChecks, tc)

	testCons := gauntlet.Constraints{
		MinLLCs: t.MinLLCs, MaxLLCs: t.MaxLLCs, MinCPUs: t.MinCPUs, MaxCPUs: t.MaxCPUs,
		MinNumaNodes: t.MinNumaNodes, MaxNumaNodes: t.MaxNumaNodes, RequiresSMT: t.RequiresSMT,
	}
	if err := testCons.Validate(); err != nil {
		errs = append(errs, err)
	}
	p.constraints = gauntlet.MergeConstraints(gauntlet.DefaultConstraints(), schedCons, testCons)
	if err := p.constraints.Validate(); err != nil {
		bad("merged topology constraints: %w", err)
	}

	if t.PerformanceMode {
		bad("PerformanceMode: not supported yet (vCPU pinning, hugepages and RT vCPU threads are not implemented); leave it false")
	}
	// ExpectErr disables auto-repro, as the page says.
	p.autoRepro = t.AutoRepro.Or(On).True() && !t.ExpectErr

	profiles, err := t.Scheduler.GenerateProfiles(t.RequiredFlags, t.ExcludedFlags)
	if err != nil {
		errs = append(errs, err)
	} else {
		p.profile = profiles[0]
	}
	if s := t.Scheduler; s != nil {
		if !s.IsEEVDF() {
			var cfg string
			if s.ConfigFile != "" {
				cfg = path.Join(guestSchedConfig, filepath.Base(s.ConfigFile))
				if st, err := os.Stat(s.ConfigFile); err != nil || !st.Mode().IsRegular() {
					bad("Scheduler %q ConfigFile %q: not a readable regular file", s.DisplayName(), s.ConfigFile)
				}
			}
			p.schedArgs = s.Args(cfg, t.ExtraSchedArgs, p.profile)
		} else if len(t.ExtraSchedArgs) > 0 || len(s.SchedArgs) > 0 || s.ConfigFile != "" || len(s.Flags) > 0 {
			bad("ExtraSchedArgs/SchedArgs/ConfigFile/Flags given but the scheduler is EEVDF, which takes no arguments (Sysctls and KernelArgs do apply)")
		}
		if err := scheduler.ValidateKernelArgs(s.KernelArgs); err != nil {
			bad("Scheduler %q %w", s.DisplayName(), err)
		}
	} else if len(t.ExtraSchedArgs) > 0 {
		bad("ExtraSchedArgs given but the test has no Scheduler")
	}
	if w := t.BpfMapWrite; w != nil {
		if w.Map == "" || len(w.Map) > 15 {
			bad("BpfMapWrite.Map %q: must name a BPF map (1 to 15 characters)", w.Map)
		}
		if len(w.Key) == 0 || len(w.Value) == 0 {
			bad("BpfMapWrite: Key and Value must not be empty")
		}
		if t.Scheduler.IsEEVDF() {
			bad("BpfMapWrite needs a sched_ext Scheduler: EEVDF has no BPF maps")
		}
	}
	seen := map[string]string{}
	for _, f := range t.IncludeFiles {
		abs, err := filepath.Abs(f)
		if err == nil {
			var st os.FileInfo
			if st, err = os.Stat(abs); err == nil && !st.Mode().IsRegular() {
				err = errors.New("not a regular file")
			}
		}
		if err != nil {
			bad("IncludeFiles %q: %v", f, err)
			continue
		}
		base := filepath.Base(abs)
		if other, dup := seen[base]; dup && other != abs {
			bad("IncludeFiles %q and %q: both would be /include-files/%s", other, f, base)
		}
		seen[base] = abs
		p.include = append(p.include, abs)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid ktstr.Test: %w", errors.Join(errs...))
	}
	return p, nil
}

// first returns the first non-zero value.
func first(vs ...int) int {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}
