package workload

import "time"

// Report is what one worker measured, returned when it stops. Durations
// are nanoseconds in JSON.
type Report struct {
	// Index is the worker's index within its cgroup, PID its guest pid.
	Index int `json:"index"`
	PID   int `json:"pid"`
	// Kind is the work type's name.
	Kind string `json:"kind"`

	// WorkUnits counts units of useful work (loop iterations of the work
	// type's kernel: spin batches, messages, faults, ...).
	WorkUnits uint64 `json:"work_units"`
	// Iterations counts the worker's outer loop iterations (progress
	// checkpoints).
	Iterations uint64 `json:"iterations"`

	// WallTime is from the start signal to the stop signal; CPUTime is the
	// CPU time the worker consumed meanwhile (user+system); OffCPU is
	// WallTime minus CPUTime.
	WallTime time.Duration `json:"wall_time"`
	CPUTime  time.Duration `json:"cpu_time"`
	OffCPU   time.Duration `json:"off_cpu"`

	// MaxGap is the longest interval between two consecutive progress
	// checkpoints; MaxGapAt is when it ended, from the start; MaxGapCPU is
	// the CPU the worker was on when it ended.
	MaxGap    time.Duration `json:"max_gap"`
	MaxGapAt  time.Duration `json:"max_gap_at"`
	MaxGapCPU int           `json:"max_gap_cpu"`

	// Migrations counts changes of CPU seen between checkpoints; CPUs is
	// the sorted set of CPUs the worker was seen on.
	Migrations uint64 `json:"migrations"`
	CPUs       []int  `json:"cpus"`

	// WakeLatencies is a uniform sample (reservoir) of wake-up latencies:
	// from the moment a waker woke the worker (or a timer was due) to the
	// worker running again. WakeCount is how many latencies were observed
	// in all.
	WakeLatencies []time.Duration `json:"wake_latencies,omitempty"`
	WakeCount     uint64          `json:"wake_count"`

	// Schedstat is the change of /proc/self/schedstat over the run.
	Schedstat Schedstat `json:"schedstat"`

	// Err is set when the worker failed; its other fields may be partial.
	Err string `json:"err,omitempty"`
}

// Schedstat is /proc/<pid>/schedstat: time on CPU, time waiting on a run
// queue, and the number of times the task ran (timeslices).
type Schedstat struct {
	RunTime    time.Duration `json:"run_time"`
	WaitTime   time.Duration `json:"wait_time"`
	Timeslices uint64        `json:"timeslices"`
}
