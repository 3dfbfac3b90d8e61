// Package plan holds a VM run with every decision made: what the root
// package resolves a ktstr.Test into (inheritance applied, everything
// validated, the scheduler binary found) and what the ktstr command builds
// for its own VMs. The runner boots a Plan and nothing else: nothing goes
// back to the Test after resolving.
package plan

import (
	"time"

	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verdict"
	"github.com/ktstr-go/ktstr/verify"
)

// Plan is one VM run's worth of decisions.
type Plan struct {
	// Kind is proto.KindTest, KindTopo or KindShell.
	Kind string

	Topology topology.Topology
	MemoryMB int
	// Duration and Workers are the test's DurationS and WorkersPerCgroup.
	Duration time.Duration
	Workers  int
	// Replicas is how many times the test runs (each a VM).
	Replicas int

	// Checks is the merged verification configuration.
	Checks verify.Config
	// Constraints are the merged gauntlet constraints.
	Constraints gauntlet.Constraints
	// Performance is performance mode (package perf): pinned vCPUs,
	// hugepages, RT vCPU threads, exclusive host CPUs.
	Performance bool
	// AutoRepro is whether a scheduler's failure reruns with probes
	// (repro.Qualifies says which failures do).
	AutoRepro bool
	// Expect is the failure the test expects (ExpectErr), nil when the run
	// must pass.
	Expect *verdict.Expect

	// Include are the test's IncludeFiles, packed with their libraries.
	Include []File
	// Scheduler is the sched_ext scheduler under test, nil for EEVDF.
	Scheduler *Scheduler
	// SchedulerName is the scheduler's display name ("eevdf" for none).
	SchedulerName string
	// Sysctls and KernelArgs come from the scheduler definition (EEVDF
	// included).
	Sysctls    map[string]string
	KernelArgs []string
	// Shell is what a proto.KindShell plan runs.
	Shell *proto.ShellJob
}

// File is a host file packed into the guest.
type File struct {
	Guest string // absolute guest path
	Host  string // absolute host path
	// Binary packs the file's shared libraries and ELF interpreter too.
	Binary bool
}

// Scheduler is the sched_ext scheduler of a plan.
type Scheduler struct {
	// Name is the display name; OpsNames the names sched_ext may report.
	Name     string
	OpsNames []string
	// Binary is the scheduler binary on the host, at GuestPath in the guest.
	Binary    string
	GuestPath string
	// Args is its command line (guest paths).
	Args []string
	// Profile names the flag profile; Profiles are every valid profile of
	// the test (the gauntlet runs each), the first being Profile.
	Profile  string
	Profiles []Profile
	// ConfigFile is the scheduler's config file, nil without one.
	ConfigFile *File
	// Watchdog is the configured sched_ext watchdog (WatchdogTimeoutS),
	// before the budget scales it.
	Watchdog time.Duration
	// BpfMapWrite is applied after the scheduler attaches.
	BpfMapWrite *proto.BpfMapWrite
	// Probe makes the run an auto-repro run (nil for a first run).
	Probe *proto.ProbeJob
}

// Profile is one flag profile with the scheduler's whole command line for
// it.
type Profile struct {
	Name  string
	Flags []string
	Args  []string
}

// Files returns every file the plan packs besides the init binary: the
// scheduler, its config file and the include files.
func (p *Plan) Files() []File {
	var fs []File
	if s := p.Scheduler; s != nil {
		fs = append(fs, File{Guest: s.GuestPath, Host: s.Binary, Binary: true})
		if s.ConfigFile != nil {
			fs = append(fs, *s.ConfigFile)
		}
	}
	return append(fs, p.Include...)
}

// Topo returns the plan of a VM that only reports its topology (ktstr topo).
func Topo(t topology.Topology, memoryMB int) *Plan {
	return &Plan{Kind: proto.KindTopo, Topology: t, MemoryMB: memoryMB, Replicas: 1, SchedulerName: "eevdf"}
}
