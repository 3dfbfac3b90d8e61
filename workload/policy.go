package workload

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ktstr-go/ktstr/internal/threads"
)

// Policy is a Linux scheduling policy with its RT priority. The zero value
// leaves the policy a worker inherits from the test process (SCHED_NORMAL
// in the guest).
type Policy struct {
	Class    PolicyClass `json:"class,omitempty"`
	Priority int         `json:"priority,omitempty"` // 1..99 for FIFO and RR
}

// PolicyClass names a scheduling policy.
type PolicyClass string

// Scheduling policies.
const (
	ClassInherit PolicyClass = ""       // leave the inherited policy
	ClassNormal  PolicyClass = "normal" // SCHED_NORMAL (SCHED_OTHER)
	ClassBatch   PolicyClass = "batch"  // SCHED_BATCH
	ClassIdle    PolicyClass = "idle"   // SCHED_IDLE
	ClassFIFO    PolicyClass = "fifo"   // SCHED_FIFO
	ClassRR      PolicyClass = "rr"     // SCHED_RR
	ClassExt     PolicyClass = "ext"    // SCHED_EXT: for sched_ext schedulers in partial mode
)

// Normal is SCHED_NORMAL.
func Normal() Policy { return Policy{Class: ClassNormal} }

// Batch is SCHED_BATCH.
func Batch() Policy { return Policy{Class: ClassBatch} }

// Idle is SCHED_IDLE.
func Idle() Policy { return Policy{Class: ClassIdle} }

// Ext is SCHED_EXT, the policy a sched_ext scheduler in partial mode
// (SCX_OPS_SWITCH_PARTIAL) schedules.
func Ext() Policy { return Policy{Class: ClassExt} }

// FIFO is SCHED_FIFO at priority (1..99).
func FIFO(priority int) Policy { return Policy{Class: ClassFIFO, Priority: priority} }

// RR is SCHED_RR at priority (1..99).
func RR(priority int) Policy { return Policy{Class: ClassRR, Priority: priority} }

func (p Policy) String() string {
	switch p.Class {
	case ClassInherit:
		return "inherit"
	case ClassFIFO, ClassRR:
		return fmt.Sprintf("%s:%d", p.Class, p.Priority)
	}
	return string(p.Class)
}

// sysPolicy returns the kernel's policy number.
func (p Policy) sysPolicy() (uint32, bool) {
	switch p.Class {
	case ClassNormal:
		return unix.SCHED_NORMAL, true
	case ClassBatch:
		return unix.SCHED_BATCH, true
	case ClassIdle:
		return unix.SCHED_IDLE, true
	case ClassFIFO:
		return unix.SCHED_FIFO, true
	case ClassRR:
		return unix.SCHED_RR, true
	case ClassExt:
		return unix.SCHED_EXT, true
	}
	return 0, false
}

func (p Policy) validate() error {
	switch p.Class {
	case ClassFIFO, ClassRR:
		if p.Priority < 1 || p.Priority > 99 {
			return fmt.Errorf("policy %v: priority must be in [1, 99]", p)
		}
		return nil
	case ClassInherit, ClassNormal, ClassBatch, ClassIdle, ClassExt:
		if p.Priority != 0 {
			return fmt.Errorf("policy %v: priority only applies to fifo and rr", p)
		}
		return nil
	}
	return fmt.Errorf("unknown scheduling policy %q", p.Class)
}

// maxCPUs bounds CPU numbers in affinity masks (unix.CPUSet's size).
const maxCPUs = len(unix.CPUSet{}) * 64

func validateCPUs(cpus []int) error {
	if cpus != nil && len(cpus) == 0 {
		return errors.New("empty affinity (use nil to inherit)")
	}
	for _, c := range cpus {
		if c < 0 || c >= maxCPUs {
			return fmt.Errorf("affinity: CPU %d out of range", c)
		}
	}
	return nil
}

func cpuMask(cpus []int) *unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return &set
}

// allowedCPUs returns the calling thread's affinity mask as a list.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := range maxCPUs {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// schedSetting is what a worker applies to all its threads before it starts
// working.
type schedSetting struct {
	Affinity []int
	Policy   Policy
	Nice     int
}

// apply applies the setting to every thread of the process. Affinity,
// policy and nice are per-thread attributes in Linux, and a Go process has
// several threads; threads created later inherit them from their creator.
func (s schedSetting) apply() error {
	if s.Affinity == nil && s.Policy.Class == ClassInherit && s.Nice == 0 {
		return nil
	}
	return forEachThread(func(tid int) error {
		if s.Affinity != nil {
			if err := unix.SchedSetaffinity(tid, cpuMask(s.Affinity)); err != nil {
				return fmt.Errorf("set affinity %v: %w", s.Affinity, err)
			}
		}
		if pol, ok := s.Policy.sysPolicy(); ok {
			attr := unix.SchedAttr{Policy: pol, Priority: uint32(s.Policy.Priority), Nice: int32(s.Nice)}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
				return fmt.Errorf("set policy %v (nice %d): %w", s.Policy, s.Nice, err)
			}
		} else if s.Nice != 0 {
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, s.Nice); err != nil {
				return fmt.Errorf("set nice %d: %w", s.Nice, err)
			}
		}
		return nil
	})
}

// forEachThread calls fn for every thread of the process (see
// threads.Each).
func forEachThread(fn func(tid int) error) error { return threads.Each(0, fn) }

// setPolicy sets the policy of the calling thread, keeping its nice value.
func setPolicy(policy uint32, nice int) error {
	attr := unix.SchedAttr{Policy: policy, Nice: int32(nice)}
	return unix.SchedSetAttr(0, &attr, 0)
}

// currentNice returns the nice value of the calling thread.
func currentNice() (int, error) {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return 0, fmt.Errorf("sched_getattr: %w", err)
	}
	return int(attr.Nice), nil
}
