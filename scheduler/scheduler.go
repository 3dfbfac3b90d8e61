// Package scheduler defines the schedulers tests run under: where the
// binary comes from, its default topology, feature flags and their
// dependencies, arguments, sysctls, kernel arguments, config file and default
// verification overrides. It also generates flag profiles and builds the
// scheduler's command line. The root package re-exports these types.
package scheduler

import (
	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// FlagName names a scheduler feature flag. Plain string constants work
// where a FlagName is expected.
type FlagName string

// Flag is a scheduler feature flag: the arguments that turn it on and the
// flags it needs.
type Flag struct {
	Name     FlagName
	Args     []string
	Requires []FlagName
}

// Scheduler is a scheduler under test. The zero value, and EEVDF, mean the
// kernel's own scheduler.
type Scheduler struct {
	// Name identifies the scheduler in output; for sched_ext schedulers the
	// harness also expects /sys/kernel/sched_ext/root/ops to name it.
	Name string
	// Binary says where the scheduler binary comes from.
	Binary Binary
	// Topology is the default topology of tests under this scheduler; zero
	// dimensions are left to the framework defaults.
	Topology topology.Topology
	// Flags are the scheduler's feature flags, in declaration order.
	Flags []Flag
	// SchedArgs are passed to every run, after the config file.
	SchedArgs []string
	// Sysctls are written under /proc/sys in the guest before the
	// scheduler starts ("kernel.sched_rt_runtime_us": "-1").
	Sysctls map[string]string
	// KernelArgs are appended to the guest kernel command line.
	KernelArgs []string
	// ConfigFile is a host file packed into the guest; its guest path is
	// passed as --config PATH.
	ConfigFile string
	// Checks are the scheduler's default verification overrides.
	Checks verify.Config
	// Constraints are the scheduler's default topology constraints.
	Constraints gauntlet.Constraints
}

// Topo returns the topology numa nodes, llcs LLCs, cores per LLC, threads per
// core.
func Topo(numa, llcs, cores, threads int) topology.Topology {
	return topology.New(numa, llcs, cores, threads)
}

// IsEEVDF reports whether s runs the kernel's own scheduler (s may be nil).
func (s *Scheduler) IsEEVDF() bool { return s == nil || s.Binary.kind == eevdf }

// DisplayName is the name used in output.
func (s *Scheduler) DisplayName() string {
	switch {
	case s.IsEEVDF() && (s == nil || s.Name == ""):
		return "eevdf"
	case s.Name != "":
		return s.Name
	}
	return s.Binary.String()
}
