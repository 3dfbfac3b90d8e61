package ktstr

// Test declares one VM test: the attributes of the reference page's
// #[ktstr_test], as Go fields. Every field is optional. A zero count, a nil
// slice, an unset Bool (Inherit) and an unset Threshold mean "inherit":
// from the Scheduler where it defines the attribute, else the framework
// default given on each field.
type Test struct {
	// Topology. Each dimension left zero comes from Scheduler.Topology, else
	// from the defaults: 1 NUMA node, 1 LLC, 2 cores per LLC, 1 thread per
	// core.
	NumaNodes int
	LLCs      int
	Sockets   int // alias of LLCs; setting both to different values is an error
	Cores     int // cores per LLC
	Threads   int // threads per core
	MemoryMB  int // VM memory; default 2048

	// Scheduler under test; nil runs the kernel's default scheduler (EEVDF).
	Scheduler *Scheduler
	// ExtraSchedArgs are appended to the scheduler's arguments.
	ExtraSchedArgs []string
	// WatchdogTimeoutS is the sched_ext watchdog, in seconds; default 4,
	// times vCPUs per host CPU when they outnumber it. From the moment the
	// scheduler attaches, a runnable task that does not run for that long
	// gets it ejected ("<task> failed to run for ..."). It needs the kernel
	// parameter sched_ext.watchdog_override_ms, which ktstr's kernel build
	// adds; on another kernel the test log says it is unsupported and the
	// scheduler's own timeout applies.
	WatchdogTimeoutS int

	// Verification (see package verify, whose table of checks declares each
	// of these fields: its check, default, unit and scaling). NotStarved
	// turns on the starvation, fairness spread and scheduling gap checks
	// (framework default: on); each threshold overrides one limit; Off and
	// Disabled switch a check off. MaxImbalanceRatio (default 4),
	// MaxLocalDSQDepth (50), FailOnStall (on), SustainedSamples (5),
	// MaxFallbackRate (200/s) and MaxKeepLastRate (100/s) are the host-side
	// monitor's: it samples every guest CPU's runqueue from the host while
	// the test function runs, and a violation counts when it lasts
	// SustainedSamples consecutive samples (see package verify).
	NotStarved          Bool
	Isolation           Bool
	MaxGapMs            Threshold
	MaxSpreadPct        Threshold
	MaxThroughputCV     Threshold
	MinWorkRate         Threshold
	MaxImbalanceRatio   Threshold
	MaxLocalDSQDepth    Threshold
	FailOnStall         Bool
	SustainedSamples    Threshold
	MaxFallbackRate     Threshold
	MaxKeepLastRate     Threshold
	MaxP99WakeLatencyNs Threshold
	MaxWakeLatencyCV    Threshold
	MinIterationRate    Threshold
	MaxMigrationRatio   Threshold

	// Flag constraints: flags in every profile, and flags in none.
	RequiredFlags []FlagName
	ExcludedFlags []FlagName

	// Topology constraints for gauntlet filtering. Defaults: 1-12 LLCs,
	// 1-192 CPUs, 1-1 NUMA nodes, SMT not required.
	MinLLCs      int
	MaxLLCs      int
	MinCPUs      int
	MaxCPUs      int
	MinNumaNodes int
	MaxNumaNodes int
	RequiresSMT  Bool

	// Execution.
	//
	// AutoRepro (default on): when the scheduler under test fails (the
	// kernel ejects it, it dies, or a check fails while it is attached),
	// the same plan boots again in a second VM with probes on the
	// scheduler's callbacks, the dispatch kfuncs, the kernel's exit path
	// and the kernel functions the failure's backtraces name, and the
	// failure gains an auto-repro section: whether it reproduced, and the
	// decoded last events of the task involved. The first run's verdict
	// does not depend on it. ExpectErr and KTSTR_AUTO_REPRO=0 turn it off.
	AutoRepro Bool
	Replicas  int // times to run; default 1
	// PerformanceMode pins each vCPU thread to a host CPU of its own
	// (virtual LLCs on distinct host LLCs where the host has enough),
	// runs vCPU threads SCHED_FIFO with QEMU's other threads and the
	// harness's on a reserved service CPU above them, backs guest RAM with
	// 2 MiB hugepages when enough are free, binds it to the pinned CPUs'
	// NUMA nodes, and keeps every other VM off those CPUs. A host with
	// fewer CPUs than vCPUs + 1 skips the test (fails it under CI=true
	// with KTSTR_PERF_REQUIRED=1).
	PerformanceMode  bool
	DurationS        int // per-scenario duration in seconds; default 2
	WorkersPerCgroup int // default 2
	// ExpectErr inverts the outcome: the test passes only if the run fails
	// with a verdict about the system under test: a check failed, the test
	// function returned an error or panicked, or the scheduler failed to
	// start or attach, died or was ejected by the kernel. A guest kernel
	// panic, a guest hang and harness errors still fail the test, unless
	// ExpectFailure names that kind. It disables AutoRepro.
	ExpectErr bool
	// ExpectFailure narrows ExpectErr to one failure (ExpectCheck,
	// ExpectKind, ExpectEjection); setting it implies ExpectErr.
	ExpectFailure Expect
	// BpfMapWrite is written into a map of the scheduler once it attached.
	BpfMapWrite *BpfMapWrite
	// IncludeFiles are host files packed into the guest as
	// /include-files/<base name>, with their shared libraries.
	IncludeFiles []string
}

// BpfMapWrite writes Value at Key of the scheduler's BPF map named Map
// (the kernel's name for it, at most 15 characters) after the scheduler
// attaches.
type BpfMapWrite struct {
	Map   string
	Key   []byte
	Value []byte
}
