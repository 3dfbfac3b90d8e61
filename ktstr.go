// Package ktstr tests Linux process schedulers, above all sched_ext
// schedulers, from ordinary Go tests. Every test boots its own kernel in a
// QEMU VM with exactly the CPU topology it asks for, starts the scheduler
// under test, runs the test function inside the guest, and reports the
// result back to go test:
//
//	func TestMain(m *testing.M) { ktstr.Main(m) }
//
//	func TestTwoLLCs(t *testing.T) {
//		ktstr.Run(t, ktstr.Test{LLCs: 2, Cores: 4, Threads: 2}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
//			return ktstr.Pass(), nil
//		})
//	}
//
// The test binary itself is the guest's init: ktstr.Main recognizes the
// guest and runs exactly one test function there. Code of a test outside
// the function passed to Run runs on both sides; keep it free of side
// effects.
//
// Environment:
//
//	KTSTR_KERNEL     kernel image, build directory or cache key (default: newest cached build)
//	KTSTR_ACCEL      kvm or tcg (default: kvm where hardware virtualization works)
//	KTSTR_QEMU       QEMU binary (default: qemu-system-x86_64 on PATH)
//	KTSTR_CACHE_DIR  cache root (default: $XDG_CACHE_HOME/ktstr)
//	KTSTR_SCHEDULER  scheduler binary or directory searched first by Discover
//	KTSTR_JOBS       VMs run at once on the host, across processes (default: host CPUs / 2, at least 1)
//	KTSTR_TIMEOUT    host-side limit per VM, overriding the computed one (e.g. 90s)
//	KTSTR_CONSOLE    when set, stream the guest console into the test log
//	KTSTR_RESULTS_DIR  write one JSON record per VM run there (see package report); use
//	                 an absolute path: go test runs each package in its own directory
package ktstr

import (
	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/scheduler"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// Types re-exported from the packages that own them.
type (
	// Scheduler is a scheduler under test; see package scheduler.
	Scheduler = scheduler.Scheduler
	// Flag is a scheduler feature flag.
	Flag = scheduler.Flag
	// FlagName names a scheduler feature flag.
	FlagName = scheduler.FlagName
	// Binary says where a scheduler binary comes from.
	Binary = scheduler.Binary
	// Topology is a CPU topology: NUMA nodes, LLCs, cores per LLC, threads per core.
	Topology = topology.Topology
	// Bool is a setting that is unset (inherit), On or Off.
	Bool = verify.Bool
	// Threshold is a check's limit: unset (inherit), a value (Val) or Disabled.
	Threshold = verify.Threshold
	// Checks is a level of verification settings (used by Scheduler.Checks).
	Checks = verify.Config
	// Constraints bound the topologies a test runs on in the gauntlet.
	Constraints = gauntlet.Constraints
	// AssertResult is the outcome of a test function's checks.
	AssertResult = verify.Result
)

// Bool values.
const (
	On  = verify.On
	Off = verify.Off
)

// Disabled switches a check off at the level where it is set.
var Disabled = verify.Disabled

// Val returns a threshold set to v.
func Val(v float64) Threshold { return verify.Val(v) }

// EEVDF is the kernel's default scheduler.
var EEVDF = scheduler.EEVDF

// Discover finds the scheduler binary called name: $KTSTR_SCHEDULER, the
// test binary's directory, PATH, then the scheduler cache.
func Discover(name string) Binary { return scheduler.Discover(name) }

// Path is the scheduler binary at p.
func Path(p string) Binary { return scheduler.Path(p) }

// Topo returns a topology: numa nodes, llcs LLCs, cores per LLC, threads
// per core.
func Topo(numa, llcs, cores, threads int) Topology { return topology.New(numa, llcs, cores, threads) }

// Pass returns a passing AssertResult.
func Pass() AssertResult { return verify.Pass() }

// Fail returns a failing AssertResult with a message.
func Fail(format string, args ...any) AssertResult { return verify.Fail(format, args...) }
