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
// A failed run has exactly one Kind (CheckFailed, SchedulerEjected,
// KernelPanic, ...: see package verdict), shown in the test output and the
// JSON records. RunE returns the failure as an error for errors.Is and
// errors.As; ExpectErr and ExpectFailure say which failure a test expects.
//
// Environment (every variable is validated: an invalid value fails the
// test and says how to fix it):
//
//	KTSTR_KERNEL     kernel image, build directory or cache key (default: the cached build of the current recipe)
//	KTSTR_ACCEL      kvm or tcg (default: kvm where hardware virtualization works)
//	KTSTR_QEMU       QEMU binary (default: qemu-system-x86_64 on PATH)
//	KTSTR_CACHE_DIR  cache root, absolute (default: $XDG_CACHE_HOME/ktstr)
//	KTSTR_SCHEDULER  scheduler binary or directory searched first by Discover
//	KTSTR_JOBS       VMs run at once on the host, across processes (default: host CPUs / 2, at least 1)
//	KTSTR_TIMEOUT    host-side limit per VM, overriding the computed one (e.g. 90s)
//	KTSTR_CONSOLE    when true (1), stream the guest console into the test log
//	KTSTR_RESULTS_DIR  write one JSON record per VM run there (see package report); use
//	                 an absolute path: go test runs each package in its own directory
//	KTSTR_MONITOR    0 switches the host-side monitor off (default on)
//	KTSTR_GAUNTLET   1 runs every test over topology presets, flag profiles and kernels
//	KTSTR_BUDGET_SECS, KTSTR_SHARD (i/n), KTSTR_SHARDS, KTSTR_OVERCOMMIT  the gauntlet's budget, shard and KVM overcommit
//	CI               when true, a missing prerequisite fails VM tests instead of skipping them
//
// go test -short skips every VM test.
package ktstr

import (
	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/scheduler"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verdict"
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
	// Failure is a failed run: its Kind and the evidence (see package
	// verdict). RunE returns one.
	Failure = verdict.Failure
	// Kind is the kind of a failed run; every Kind is an error usable with
	// errors.Is.
	Kind = verdict.Kind
	// Expect describes the failure a test expects (Test.ExpectFailure).
	Expect = verdict.Expect
)

// The failure kinds (see package verdict for what each means).
const (
	CheckFailed          = verdict.CheckFailed
	TestError            = verdict.TestError
	TestPanic            = verdict.TestPanic
	SchedulerStartFailed = verdict.SchedulerStartFailed
	SchedulerNotAttached = verdict.SchedulerNotAttached
	SchedulerDied        = verdict.SchedulerDied
	SchedulerEjected     = verdict.SchedulerEjected
	KernelPanic          = verdict.KernelPanic
	GuestHang            = verdict.GuestHang
	HarnessError         = verdict.HarnessError
)

// ExpectCheck expects the check with id check to fail (for example
// verify.CheckSpread, "spread").
func ExpectCheck(check string) Expect { return Expect{Kind: CheckFailed, Check: check} }

// ExpectKind expects a failure of kind k, such as KernelPanic, which plain
// ExpectErr does not accept.
func ExpectKind(k Kind) Expect { return Expect{Kind: k} }

// ExpectEjection expects the kernel to eject the scheduler with reason in
// its exit reason or message (for example "failed to run for"; "" for any
// ejection).
func ExpectEjection(reason string) Expect { return Expect{Kind: SchedulerEjected, Reason: reason} }

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
