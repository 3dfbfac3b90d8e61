package ktstr

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/ktstr-go/ktstr/internal/proto"
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
	// Accel is the host's accelerator, "kvm" or "tcg"; Slowdown is the
	// factor time-based thresholds are scaled by (1 under KVM).
	Accel    string
	Slowdown float64
	// Replica counts replicas from 0.
	Replica int

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

// IncludeFile returns the guest path of the Test.IncludeFiles entry with
// the given base name.
func (c *Ctx) IncludeFile(name string) string {
	return filepath.Join(proto.IncludeDir, filepath.Base(name))
}
