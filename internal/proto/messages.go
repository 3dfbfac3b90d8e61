package proto

import (
	"fmt"
	"time"

	"github.com/ktstr-go/ktstr/internal/budget"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verdict"
)

// Paths and names shared by host and guest.
const (
	// JobPath is where the host puts the Job in the initramfs.
	JobPath = "/ktstr/job.json"
	// PortName is the virtio-serial port name of the results channel.
	PortName = "ktstr.results"
	// ControlPortName is the virtio-serial port the host writes to a
	// shell guest: a Winsize line each time its terminal is resized.
	ControlPortName = "ktstr.control"
	// IncludeDir is the guest directory holding Test.IncludeFiles.
	IncludeDir = "/include-files"
	// EnvRole tells a re-executed binary in the guest which role it plays.
	EnvRole = "KTSTR_ROLE"
	// ChildFD is the descriptor of the frame pipe in the guest's test
	// process (to PID 1).
	ChildFD = 3
)

// Cmdline is the kernel command line every ktstr guest gets after the
// launcher's own console and panic settings: the test binary is the
// initramfs's /init, and the rest makes the guest quiet, fast and its
// kernel addresses fixed.
var Cmdline = []string{
	"rdinit=/init", "mitigations=off", "random.trust_cpu=on", "8250.nr_uarts=1",
	"nokaslr", "audit=0", "tsc=reliable", "no_timer_check",
}

// Roles of the test binary inside the guest (values of EnvRole). PID 1 has
// no role variable: it is recognized by its pid.
const (
	RoleTest     = "test"     // runs the one test function of the job
	RoleWorker   = "worker"   // a workload worker
	RoleSentinel = "sentinel" // the real-time sched_ext watcher
)

// Job kinds.
const (
	KindTest  = "test"  // run one Go test function
	KindTopo  = "topo"  // report the guest topology and power off
	KindShell = "shell" // run a shell (or one command) on the console: ktstr shell
)

// Frame types. Each has one sender: PID 1 (init) or the test process,
// whose frames init forwards. The host refuses a frame from the wrong
// sender, and init refuses to forward one.
const (
	TypeHello   = "hello"   // init: guest init is up: Hello
	TypeLog     = "log"     // init or test process: a line for the host's test log: Log
	TypeSched   = "sched"   // init: the scheduler attached: SchedInfo
	TypeStarted = "started" // test process: the test function is about to run: Started
	TypeResult  = "result"  // test process: the test function's outcome: Result
	TypeConfine = "confine" // test process: workers are (or no longer are) confined to some CPUs: Confine
	TypeTopo    = "topo"    // init: topology.Observed, for KindTopo jobs
	TypeDump    = "dump"    // init: a line of the kernel's sched_ext dump: Log
	TypeProbe   = "probe"   // init: what the auto-repro probes recorded: ProbeReport
	TypeDone    = "done"    // init: last frame of every run: Done
)

// FromTestProcess reports whether a frame of type typ may come from the
// test process (and be forwarded by init).
func FromTestProcess(typ string) bool {
	switch typ {
	case TypeStarted, TypeLog, TypeResult, TypeConfine:
		return true
	}
	return false
}

// KnownType reports whether typ is a frame type of this protocol.
func KnownType(typ string) bool {
	switch typ {
	case TypeHello, TypeLog, TypeSched, TypeStarted, TypeResult, TypeConfine, TypeTopo, TypeDump, TypeProbe, TypeDone:
		return true
	}
	return false
}

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
	// Budget holds every limit the guest applies and the check scale.
	Budget budget.Budget `json:"budget"`
	// IncludeFiles are the guest paths of the test's IncludeFiles.
	IncludeFiles []string `json:"include_files,omitempty"`

	// Sysctls are written under /proc/sys before anything else runs.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Scheduler is the sched_ext scheduler to run; nil runs EEVDF.
	Scheduler *SchedulerJob `json:"scheduler,omitempty"`
	// Checks is the merged verification configuration, as JSON owned by the
	// verify package.
	Checks []byte `json:"checks,omitempty"`
	// Shell is what a KindShell job runs.
	Shell *ShellJob `json:"shell,omitempty"`
}

// ShellJob is ktstr shell's guest: a shell on the serial console, or one
// command, with the host terminal's size and TERM.
type ShellJob struct {
	Exec string `json:"exec,omitempty"` // "" for an interactive shell
	Rows int    `json:"rows,omitempty"`
	Cols int    `json:"cols,omitempty"`
	Term string `json:"term,omitempty"`
}

// Winsize is a terminal's size, as the host sends it on the control port
// when its terminal is resized.
type Winsize struct{ Rows, Cols int }

// maxWinsize bounds a size the guest accepts (struct winsize holds
// 16 bits).
const maxWinsize = 1 << 15

// String is the control port's line for w: "winsize ROWS COLS\n".
func (w Winsize) String() string { return fmt.Sprintf("winsize %d %d\n", w.Rows, w.Cols) }

// ParseWinsize parses a control port line (without its newline); it
// reports false for anything else, or a size out of 1..32767.
func ParseWinsize(line string) (Winsize, bool) {
	var w Winsize
	var rest string
	n, _ := fmt.Sscanf(line+" .", "winsize %d %d %s", &w.Rows, &w.Cols, &rest)
	if n != 3 || rest != "." || w.Rows < 1 || w.Cols < 1 || w.Rows >= maxWinsize || w.Cols >= maxWinsize {
		return Winsize{}, false
	}
	return w, true
}

// ShellMarker is what a KindShell guest writes on the console just before
// the shell starts: the host shows the console from there on, without the
// boot messages before it (an OSC sequence, which terminals ignore).
const ShellMarker = "\x1b]7770;ktstr-shell\x07"

// ShellEndMarker is what it writes once the shell exited: the host shows
// nothing after it (the power-off messages).
const ShellEndMarker = "\x1b]7770;ktstr-end\x07"

// ShellResult is how a KindShell job's command ended.
type ShellResult struct {
	// Status is the shell's exit status (128+n when signal n killed it).
	Status int `json:"status"`
}

// SchedulerJob is the scheduler to run in the guest.
type SchedulerJob struct {
	Name    string   `json:"name"`
	Path    string   `json:"path"` // guest path of the binary
	Args    []string `json:"args,omitempty"`
	Profile string   `json:"profile,omitempty"`
	// OpsNames are the names /sys/kernel/sched_ext/root/ops may show for
	// this scheduler (compared without an "scx_" prefix).
	OpsNames []string `json:"ops_names"`
	// BpfMapWrite is applied after the scheduler attaches.
	BpfMapWrite *BpfMapWrite `json:"bpf_map_write,omitempty"`
	// Probe, when set, makes this an auto-repro run: probes are attached
	// (package probe) and their report comes back in a probe frame.
	Probe *ProbeJob `json:"probe,omitempty"`
}

// ProbeJob is what an auto-repro run probes.
type ProbeJob struct {
	// Functions are kernel functions to kprobe: those the first run's
	// failure named.
	Functions []string `json:"functions,omitempty"`
}

// Probe event kinds (the BPF side's enum event_kind).
const (
	ProbeExit          = 1  // the kernel claims the scheduler's exit: A[0] exit kind, A[1] exit code
	ProbeFunc          = 2  // a probed kernel function: A[0] its address
	ProbeDispatch      = 3  // scx_bpf_dispatch: A[0] DSQ id, A[1] slice, A[2] enqueue flags
	ProbeDispatchVtime = 4  // scx_bpf_dispatch_vtime: as ProbeDispatch, Ret the vtime
	ProbeConsume       = 5  // scx_bpf_consume: A[0] DSQ id, Ret whether a task was consumed
	ProbeSelectCPU     = 10 // ops.select_cpu: A[0] prev CPU, A[1] wake flags, Ret the CPU chosen
	ProbeEnqueue       = 11 // ops.enqueue: A[0] enqueue flags
	ProbeDequeue       = 12 // ops.dequeue: A[0] dequeue flags
	ProbeCBDispatch    = 13 // ops.dispatch: A[0] the CPU, the task is prev
	ProbeRunnable      = 14 // ops.runnable: A[0] enqueue flags
	ProbeRunning       = 15 // ops.running
	ProbeStopping      = 16 // ops.stopping: A[0] still runnable
	ProbeQuiescent     = 17 // ops.quiescent: A[0] dequeue flags
)

// ProbeEvent is one event the probes recorded. A[3] holds the first 64
// bits of the task's allowed CPUs for events about a task.
type ProbeEvent struct {
	At   time.Duration `json:"at"` // guest monotonic clock
	Kind int           `json:"kind"`
	CPU  int           `json:"cpu"`
	PID  int           `json:"pid,omitempty"`
	Cur  int           `json:"cur,omitempty"`
	Comm string        `json:"comm,omitempty"`
	A    [4]uint64     `json:"a"`
	Ret  int64         `json:"ret,omitempty"`
}

// ProbeReport is what an auto-repro run's probes recorded.
type ProbeReport struct {
	// Tasks are the tasks whose events Events holds (those the failure
	// involves), Exits the exit triggers seen.
	Tasks  []int        `json:"tasks,omitempty"`
	Events []ProbeEvent `json:"events,omitempty"`
	Exits  []ProbeEvent `json:"exits,omitempty"`
	// Recent are the last events of any task, for what ran on the CPU
	// that triggered the exit (without kernel function hits: Funcs has
	// the last hit of each function, FuncHits counts them by address).
	Recent   []ProbeEvent      `json:"recent,omitempty"`
	Funcs    []ProbeEvent      `json:"funcs,omitempty"`
	FuncHits map[uint64]uint64 `json:"func_hits,omitempty"`
	// Total counts every event, Lost those the ring buffer dropped.
	Total int    `json:"total"`
	Lost  uint64 `json:"lost,omitempty"`
	// Attached lists the probes attached; Notes what could not be.
	Attached []string `json:"attached,omitempty"`
	Notes    []string `json:"notes,omitempty"`
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

// SchedInfo is sent by init once the scheduler attached.
type SchedInfo struct {
	// Ops is /sys/kernel/sched_ext/root/ops.
	Ops string `json:"ops"`
	// Uptime is the guest uptime when the attach was seen.
	Uptime time.Duration `json:"uptime"`
	// Watchdog is the sched_ext watchdog timeout the kernel applied at
	// enable through sched_ext.watchdog_override_ms, or 0 when the kernel
	// has no such parameter (WatchdogNote then says what applies instead).
	Watchdog     time.Duration `json:"watchdog,omitempty"`
	WatchdogNote string        `json:"watchdog_note,omitempty"`
}

// Started is sent just before the test function runs.
type Started struct {
	Uptime time.Duration `json:"uptime"`
}

// Confine says whether the test function confines its workers to some of
// the guest's CPUs, from now on.
type Confine struct {
	On bool `json:"on"`
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

// Done ends every run. Failure is why the run failed outside the test
// function's own result (the scheduler, the test process, a guest-side
// limit), nil otherwise.
type Done struct {
	Failure *verdict.Failure `json:"failure,omitempty"`
	Uptime  time.Duration    `json:"uptime"`
	// Dropped counts test-process frames init could not forward (damaged,
	// or of a type the test process may not send).
	Dropped int `json:"dropped,omitempty"`
	// Shell is a KindShell job's result.
	Shell *ShellResult `json:"shell,omitempty"`
}
