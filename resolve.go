package ktstr

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/proto"
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

// Upper bounds of the counts and durations of a Test: far above anything
// useful, low enough that no limit derived from them can overflow.
const (
	maxDurationS        = 3600
	maxWatchdogS        = 3600
	maxReplicas         = 1000
	maxWorkersPerCgroup = 4096
	maxMemoryMB         = 1 << 20 // 1 TiB
)

var defaultTopology = topology.New(1, 1, 2, 1)

// Guest paths of the scheduler binary and its config file.
const (
	guestSchedDir    = "/ktstr/sched"
	guestSchedConfig = "/ktstr/sched-config"
)

// resolve applies inheritance (test, then scheduler, then defaults),
// validates the result and finds the scheduler binary on the host, so that
// a missing one is reported before any VM boots. Every error names the
// field and the rule.
func resolve(t Test) (*plan.Plan, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"NumaNodes", t.NumaNodes, topology.MaxCPUs}, {"LLCs", t.LLCs, topology.MaxCPUs}, {"Sockets", t.Sockets, topology.MaxCPUs},
		{"Cores", t.Cores, topology.MaxCPUs}, {"Threads", t.Threads, topology.MaxCPUs}, {"MemoryMB", t.MemoryMB, maxMemoryMB},
		{"DurationS", t.DurationS, maxDurationS}, {"WorkersPerCgroup", t.WorkersPerCgroup, maxWorkersPerCgroup},
		{"Replicas", t.Replicas, maxReplicas}, {"WatchdogTimeoutS", t.WatchdogTimeoutS, maxWatchdogS},
	} {
		switch {
		case f.v < 0:
			bad("%s is %d: must be at least 1 (leave it 0 to inherit the default)", f.name, f.v)
		case f.v > f.max:
			bad("%s is %d: at most %d", f.name, f.v, f.max)
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
			if f.v < 0 || f.v > topology.MaxCPUs {
				bad("Scheduler %q Topology.%s is %d: must be from 1 to %d (or 0 to leave it to the defaults)", s.DisplayName(), f.name, f.v, topology.MaxCPUs)
			}
		}
		if err := schedChecks.Validate(); err != nil {
			bad("Scheduler %q Checks: %w", s.DisplayName(), err)
		}
		if err := schedCons.Validate(); err != nil {
			bad("Scheduler %q Constraints: %w", s.DisplayName(), err)
		}
	}
	p := &plan.Plan{
		Kind: proto.KindTest,
		Topology: topology.New(
			first(t.NumaNodes, schedTopo.NumaNodes, defaultTopology.NumaNodes),
			first(llcs, schedTopo.LLCs, defaultTopology.LLCs),
			first(t.Cores, schedTopo.Cores, defaultTopology.Cores),
			first(t.Threads, schedTopo.Threads, defaultTopology.Threads)),
		MemoryMB:      first(t.MemoryMB, defaultMemoryMB),
		Duration:      time.Duration(first(t.DurationS, defaultDurationS)) * time.Second,
		Workers:       first(t.WorkersPerCgroup, defaultWorkersPerCgroup),
		Replicas:      first(t.Replicas, defaultReplicas),
		SchedulerName: t.Scheduler.DisplayName(),
	}
	if len(errs) == 0 {
		if err := p.Topology.Validate(); err != nil {
			bad("topology %s: %w", p.Topology, err)
		} else if p.MemoryMB < topology.MinNodeMemoryMB*p.Topology.NumaNodes {
			bad("MemoryMB is %d: %d NUMA nodes need at least %d MB each", p.MemoryMB, p.Topology.NumaNodes, topology.MinNodeMemoryMB)
		}
	}

	tc, err := verify.FromStruct(t)
	if err != nil {
		// The Test struct and the table of checks disagree: a bug of this
		// package, caught by its tests.
		bad("ktstr: %w", err)
	} else if err := tc.Validate(); err != nil {
		errs = append(errs, err)
	}
	p.Checks = verify.Merge(verify.Defaults(), schedChecks, tc)

	testCons := gauntlet.Constraints{
		MinLLCs: t.MinLLCs, MaxLLCs: t.MaxLLCs, MinCPUs: t.MinCPUs, MaxCPUs: t.MaxCPUs,
		MinNumaNodes: t.MinNumaNodes, MaxNumaNodes: t.MaxNumaNodes, RequiresSMT: t.RequiresSMT,
	}
	if err := testCons.Validate(); err != nil {
		errs = append(errs, err)
	}
	p.Constraints = gauntlet.MergeConstraints(gauntlet.DefaultConstraints(), schedCons, testCons)
	if err := p.Constraints.Validate(); err != nil {
		bad("merged topology constraints: %w", err)
	}

	p.Performance = t.PerformanceMode
	if t.ExpectErr || t.ExpectFailure != (Expect{}) {
		e := t.ExpectFailure
		if err := e.Validate(); err != nil {
			bad("ExpectFailure: %w", err)
		}
		p.Expect = &e
	}
	// ExpectErr disables auto-repro, as the page says.
	p.AutoRepro = t.AutoRepro.Or(On).True() && p.Expect == nil

	profiles, err := t.Scheduler.GenerateProfiles(t.RequiredFlags, t.ExcludedFlags)
	if err != nil {
		errs = append(errs, err)
	}
	if s := t.Scheduler; s != nil {
		p.Sysctls, p.KernelArgs = s.Sysctls, s.KernelArgs
		if err := scheduler.ValidateKernelArgs(s.KernelArgs); err != nil {
			bad("Scheduler %q %w", s.DisplayName(), err)
		}
		if err := scheduler.ValidateSysctls(s.Sysctls); err != nil {
			bad("Scheduler %q %w", s.DisplayName(), err)
		}
		if !s.IsEEVDF() {
			sp := &plan.Scheduler{
				Name:     s.DisplayName(),
				Watchdog: time.Duration(first(t.WatchdogTimeoutS, defaultWatchdogS)) * time.Second,
			}
			var cfg string
			if s.ConfigFile != "" {
				abs, err := filepath.Abs(s.ConfigFile)
				st, serr := os.Stat(abs)
				if err != nil || serr != nil || !st.Mode().IsRegular() {
					bad("Scheduler %q ConfigFile %q: not a readable regular file", s.DisplayName(), s.ConfigFile)
				}
				cfg = path.Join(guestSchedConfig, filepath.Base(abs))
				sp.ConfigFile = &plan.File{Guest: cfg, Host: abs}
			}
			for _, pr := range profiles {
				pp := plan.Profile{Name: pr.Name, Args: s.Args(cfg, t.ExtraSchedArgs, pr)}
				for _, f := range pr.Flags {
					pp.Flags = append(pp.Flags, string(f))
				}
				sp.Profiles = append(sp.Profiles, pp)
			}
			if len(sp.Profiles) > 0 {
				sp.Profile, sp.Args = sp.Profiles[0].Name, sp.Profiles[0].Args
			}
			if w := t.BpfMapWrite; w != nil {
				sp.BpfMapWrite = &proto.BpfMapWrite{Map: w.Map, Key: w.Key, Value: w.Value}
			}
			p.Scheduler = sp
		} else if len(t.ExtraSchedArgs) > 0 || len(s.SchedArgs) > 0 || s.ConfigFile != "" || len(s.Flags) > 0 {
			bad("ExtraSchedArgs/SchedArgs/ConfigFile/Flags given but the scheduler is EEVDF, which takes no arguments (Sysctls and KernelArgs do apply)")
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
			bad("IncludeFiles %q and %q: both would be %s/%s", other, f, proto.IncludeDir, base)
		}
		seen[base] = abs
		p.Include = append(p.Include, plan.File{Guest: path.Join(proto.IncludeDir, base), Host: abs, Binary: true})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid ktstr.Test: %w", errors.Join(errs...))
	}
	return p, nil
}

// locateScheduler finds the scheduler binary on the host and completes the
// plan's scheduler with it.
func locateScheduler(p *plan.Plan, s *Scheduler) error {
	if p.Scheduler == nil {
		return nil
	}
	bin, err := s.Binary.Resolve()
	if err != nil {
		return fmt.Errorf("scheduler %s: %w", s.DisplayName(), err)
	}
	p.Scheduler.Binary = bin
	p.Scheduler.GuestPath = path.Join(guestSchedDir, filepath.Base(bin))
	p.Scheduler.OpsNames = []string{s.DisplayName(), filepath.Base(bin)}
	return nil
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
