package ktstr

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/ktstr-go/ktstr/cgroup"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/scenario"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// Ctx is what a test function gets inside the guest.
type Ctx struct {
	// Topology is what the guest kernel reports in sysfs.
	Topology topology.Observed
	// Shape is the topology the test asked for; its methods number CPUs,
	// LLCs and nodes the way the guest sees them.
	Shape topology.Topology
	// Duration is the test's per-scenario duration (DurationS).
	Duration time.Duration
	// WorkersPerCgroup is the test's default number of workers per cgroup.
	WorkersPerCgroup int
	// Checks is the merged verification configuration.
	Checks verify.Config
	// Scheduler names the scheduler under test ("eevdf" for none).
	Scheduler string
	// Accel is the host's accelerator, "kvm" or "tcg"; Scale is the factor
	// time-based check thresholds are multiplied by and rate thresholds
	// divided by for it (1 under KVM without overcommit).
	Accel string
	Scale float64
	// Replica counts replicas from 0.
	Replica int
	// Cgroups manages the test's cgroups, under /sys/fs/cgroup/ktstr;
	// whatever it created is removed when the test function returns.
	Cgroups *cgroup.Manager

	job *proto.Job
	out *proto.Writer
}

// Logf sends a line to the host's test log (shown on failure and with -v).
func (c *Ctx) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if c.out == nil || c.out.Send(proto.TypeLog, proto.Log{Msg: msg}) != nil {
		fmt.Println(msg)
	}
}

// Confine tells the host-side monitor that the test function confines its
// workers to some of the guest's CPUs (on) or no longer does (off): while
// it does, the imbalance ratio is not judged, since the imbalance is the
// test's own doing. ExecuteDefs, ExecuteSteps and RunScenario call it
// themselves for cpusets and affinities; a test that pins tasks on its own
// calls it.
func (c *Ctx) Confine(on bool) {
	if c.out != nil {
		_ = c.out.Send(proto.TypeConfine, proto.Confine{On: on})
	}
}

// scenarioEnv is the environment scenarios run in.
func (c *Ctx) scenarioEnv() *scenario.Env {
	var cpus []int
	for _, n := range c.Topology.NUMA {
		cpus = append(cpus, n...)
	}
	slices.Sort(cpus)
	return &scenario.Env{
		Topology: c.Shape, CPUs: cpus, Duration: c.Duration, WorkersPerCgroup: c.WorkersPerCgroup,
		Checks: c.Checks, Verify: verify.Env{Scale: c.Scale, Accel: c.Accel},
		Cgroups: c.Cgroups, Logf: c.Logf, Confine: c.Confine,
	}
}

// IncludeFile returns the guest path of the Test.IncludeFiles entry with
// the given base name.
func (c *Ctx) IncludeFile(name string) string {
	return filepath.Join(proto.IncludeDir, filepath.Base(name))
}
