package proto

import (
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

// Paths and names shared by host and guest.
const (
	// JobPath is where the host puts the Job in the initramfs.
	JobPath = "/ktstr/job.json"
	// PortName is the virtio-serial port name of the results channel.
	PortName = "ktstr.results"
	// IncludeDir is the guest directory holding Test.IncludeFiles.
	IncludeDir = "/include-files"
	// EnvRole tells a re-executed binary in the guest which role it plays.
	EnvRole = "KTSTR_ROLE"
)

// Roles of the test binary inside the guest (values of EnvRole). PID 1 has
// no role variable: it is recognized by its pid.
const (
	RoleTest     = "test"     // runs the one test function of the job
	RoleWorker   = "worker"   // a workload worker
	RoleSentinel = "sentinel" // the real-time sched_ext watcher
)

// Job kinds.
const (
	KindTest = "test" // run one Go test function
	KindTopo = "topo" // report the guest topology and power off
)

// Frame types.
const (
	TypeHello   = "hello"   // guest init is up: Hello
	TypeStarted = "started" // the test function is about to run: Started
	TypeLog     = "log"     // a line for the host's test log: Log
	TypeResult  = "result"  // the test function's outcome: Result
	TypeTopo    = "topo"    // topology.Observed, for KindTopo jobs
	TypeDone    = "done"    // last frame of every run: Done
)

// Job is everything the guest needs to run one VM's worth of work.
type Job struct {
	Kind string `json:"kind"`
	// Test is the name (testing.T.Name) of the test that called ktstr.Run,
	// and Occurrence counts ktstr.Run calls within it, from 0.
	Test       string `json:"test,omitempty"`
	Occurrence int    `json:"occurrence,omitempty"`
	Replica    int    `json:"replica,omitempty"`

	Topology         topology.Topology `json:"topology"`
	MemoryMB         int               `json:"memory_mb"`
	Duration         time.Duration     `json:"duration"`
	WorkersPerCgroup int               `json:"workers_per_cgroup"`
	// TestTimeout bounds the test function inside the guest.
	TestTimeout time.Duration `json:"test_timeout"`
	// Accel is "kvm" or "tcg"; the guest scales time-based thresholds by it.
	Accel string `json:"accel"`
	// Scale is the factor time-based check thresholds are scaled by.
	Scale float64 `json:"scale"`
	// IncludeFiles are the guest paths of the test's IncludeFiles.
	IncludeFiles []string `json:"include_files,omitempty"`

	// Sysctls are written under /proc/sys before anything else runs.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Scheduler is the sched_ext scheduler to run; nil runs EEVDF.
	Scheduler *SchedulerJob `json:"scheduler,omitempty"`
	// Checks is the merged verification configuration, as JSON owned by the
	// verify package.
	Checks []byte `json:"checks,omitempty"`
}

// SchedulerJob is the scheduler to run in the guest.
type SchedulerJob struct {
	Name    string   `json:"name"`
	Path    string   `json:"path"` // guest path of the binary
	Args    []string `json:"args,omitempty"`
	Profile string   `json:"profile,omitempty"`
	// AttachTimeout bounds the wait for sched_ext to report it enabled.
	AttachTimeout time.Duration `json:"attach_timeout"`
	// WatchdogTimeout overrides the sched_ext watchdog (0: kernel default).
	WatchdogTimeout time.Duration `json:"watchdog_timeout,omitempty"`
	// BpfMapWrite is applied after the scheduler attaches.
	BpfMapWrite *BpfMapWrite `json:"bpf_map_write,omitempty"`
}

// BpfMapWrite writes Value at Key of the loaded map named Map.
type BpfMapWrite struct {
	Map   string `json:"map"`
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// Hello is sent by guest init once the guest is set up.
type Hello struct {
	Uptime time.Duration `json:"uptime"` // guest uptime when init was ready
	Kernel string        `json:"kernel"` // uname release
}

// Started is sent just before the test function runs.
type Started struct {
	Uptime time.Duration `json:"uptime"`
}

// Log is a line of test output.
type Log struct {
	Msg string `json:"msg"`
}

// Result is the outcome of the test function.
type Result struct {
	// Assert is the AssertResult the function returned, as JSON owned by
	// the verify package.
	Assert []byte `json:"assert,omitempty"`
	// Err is the error the function returned, if any.
	Err string `json:"err,omitempty"`
	// Panic holds the panic value and stack if the function panicked.
	Panic string `json:"panic,omitempty"`
	// Elapsed is how long the function ran.
	Elapsed time.Duration `json:"elapsed"`
}

// Done ends every run. Failure says why the guest-side run failed outside
// the test function (a scheduler that died, a test process that crashed);
// it is empty on success.
type Done struct {
	Failure string        `json:"failure,omitempty"`
	Detail  string        `json:"detail,omitempty"` // log tail that explains Failure
	Uptime  time.Duration `json:"uptime"`
}
