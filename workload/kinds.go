package workload

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kind is a work type: what a worker does in its loop. Kinds are plain
// descriptions made by the constructors of this package
// (CpuSpin, Bursty, Custom, ...); they marshal to JSON, which is how a
// worker process learns its work, and ParseKind reads them back.
//
// Constructors never fail; invalid parameters are reported by Validate and
// by Start.
type Kind interface {
	// Name is the work type's name ("CpuSpin", "Bursty", ...; a Custom
	// kind's registered name). Reports carry it.
	Name() string
	// String is the name with the parameters, as in "Bursty(5ms, 10ms)".
	String() string
	// GroupSize is how many workers cooperate in one group: 2 for the
	// ping-pong kinds, 1+fanOut for FutexFanOut, contenders for
	// MutexContention, 1 for all others. A Spec's Count must be a
	// multiple of it.
	GroupSize() int
	// Validate reports invalid parameters, and for Custom kinds a name that
	// is not registered exactly once.
	Validate() error
	json.Marshaler

	spec() kindSpec
	validate() error
}

// Names of the work types (Kind.Name of the built-in kinds).
const (
	TypeCpuSpin         = "CpuSpin"
	TypeYieldHeavy      = "YieldHeavy"
	TypeMixed           = "Mixed"
	TypeIoSync          = "IoSync"
	TypeBursty          = "Bursty"
	TypePipeIo          = "PipeIo"
	TypeFutexPingPong   = "FutexPingPong"
	TypeCachePressure   = "CachePressure"
	TypeFutexFanOut     = "FutexFanOut"
	TypeForkExit        = "ForkExit"
	TypeNiceSweep       = "NiceSweep"
	TypeAffinityChurn   = "AffinityChurn"
	TypePolicyChurn     = "PolicyChurn"
	TypePageFaultChurn  = "PageFaultChurn"
	TypeMutexContention = "MutexContention"
	TypeSequence        = "Sequence"
	TypeCustom          = "Custom"
)

// kindSpec is the JSON form of a Kind. Only the fields of its type are set.
type kindSpec struct {
	Type       string        `json:"type"`
	Burst      time.Duration `json:"burst,omitempty"`
	Sleep      time.Duration `json:"sleep,omitempty"`
	Size       int           `json:"size,omitempty"`
	Stride     int           `json:"stride,omitempty"`
	FanOut     int           `json:"fan_out,omitempty"`
	Contenders int           `json:"contenders,omitempty"`
	Phases     []Phase       `json:"phases,omitempty"`
	Name       string        `json:"name,omitempty"` // Custom
}

// kind implements Kind.
type kind struct{ s kindSpec }

// CpuSpin spins on integer arithmetic.
func CpuSpin() Kind { return kind{kindSpec{Type: TypeCpuSpin}} }

// YieldHeavy does a little arithmetic and calls sched_yield(2), in a loop.
func YieldHeavy() Kind { return kind{kindSpec{Type: TypeYieldHeavy}} }

// Mixed spins, yields and sleeps briefly (100µs), in a loop.
func Mixed() Kind { return kind{kindSpec{Type: TypeMixed}} }

// IoSync writes 4 KiB blocks to an unlinked O_DSYNC file in the temporary
// directory ($TMPDIR or /tmp, a tmpfs in the guest) and fdatasyncs each.
func IoSync() Kind { return kind{kindSpec{Type: TypeIoSync}} }

// Bursty spins for burst, then sleeps for sleep, in a loop.
func Bursty(burst, sleep time.Duration) Kind {
	return kind{kindSpec{Type: TypeBursty, Burst: burst, Sleep: sleep}}
}

// PipeIo ping-pongs a byte between the two workers of a pair over two
// pipes. Group size 2.
func PipeIo() Kind { return kind{kindSpec{Type: TypePipeIo}} }

// FutexPingPong ping-pongs the turn between the two workers of a pair
// through a futex word in shared memory. Group size 2.
func FutexPingPong() Kind { return kind{kindSpec{Type: TypeFutexPingPong}} }

// CachePressure walks a buffer of size bytes with the given stride (bytes),
// writing one byte at each step, wrapping around at the end.
func CachePressure(size, stride int) Kind {
	return kind{kindSpec{Type: TypeCachePressure, Size: size, Stride: stride}}
}

// FutexFanOut makes groups of 1+fanOut workers: one waker wakes fanOut
// waiters at once with FUTEX_WAKE on a shared word, waits until all of them
// have run, and repeats. Group size fanOut+1.
func FutexFanOut(fanOut int) Kind {
	return kind{kindSpec{Type: TypeFutexFanOut, FanOut: fanOut}}
}

// ForkExit forks a child that exits at once (/bin/true, or the test binary
// itself in a role that exits immediately when /bin/true is missing) and
// waits for it, in a loop.
func ForkExit() Kind { return kind{kindSpec{Type: TypeForkExit}} }

// NiceSweep spins while stepping its nice value up from its starting value
// to 19, then back to the start, one step per iteration.
func NiceSweep() Kind { return kind{kindSpec{Type: TypeNiceSweep}} }

// AffinityChurn spins while pinning itself to each CPU of its starting
// affinity mask in turn, one per iteration.
func AffinityChurn() Kind { return kind{kindSpec{Type: TypeAffinityChurn}} }

// PolicyChurn spins while switching its scheduling policy SCHED_OTHER ->
// SCHED_BATCH -> SCHED_IDLE -> SCHED_OTHER, one step per iteration.
func PolicyChurn() Kind { return kind{kindSpec{Type: TypePolicyChurn}} }

// PageFaultChurn maps 256 KiB of anonymous memory, touches every page and
// unmaps it, in a loop.
func PageFaultChurn() Kind { return kind{kindSpec{Type: TypePageFaultChurn}} }

// MutexContention makes groups of contenders workers that take a futex-based
// mutex in shared memory, run a short critical section and release it, in a
// loop. Group size contenders.
func MutexContention(contenders int) Kind {
	return kind{kindSpec{Type: TypeMutexContention, Contenders: contenders}}
}

// Sequence runs the phases in order, over and over.
func Sequence(phases ...Phase) Kind {
	return kind{kindSpec{Type: TypeSequence, Phases: append([]Phase(nil), phases...)}}
}

func (k kind) spec() kindSpec { return k.s }

func (k kind) Name() string {
	if k.s.Type == TypeCustom {
		return k.s.Name
	}
	return k.s.Type
}

func (k kind) String() string {
	s := k.s
	switch s.Type {
	case TypeBursty:
		return fmt.Sprintf("Bursty(%v, %v)", s.Burst, s.Sleep)
	case TypeCachePressure:
		return fmt.Sprintf("CachePressure(%d, %d)", s.Size, s.Stride)
	case TypeFutexFanOut:
		return fmt.Sprintf("FutexFanOut(%d)", s.FanOut)
	case TypeMutexContention:
		return fmt.Sprintf("MutexContention(%d)", s.Contenders)
	case TypeSequence:
		ps := make([]string, len(s.Phases))
		for i, p := range s.Phases {
			ps[i] = p.String()
		}
		return "Sequence(" + strings.Join(ps, ", ") + ")"
	case TypeCustom:
		return fmt.Sprintf("Custom(%q)", s.Name)
	}
	return s.Type
}

func (k kind) GroupSize() int {
	switch k.s.Type {
	case TypePipeIo, TypeFutexPingPong:
		return 2
	case TypeFutexFanOut:
		return 1 + max(k.s.FanOut, 1)
	case TypeMutexContention:
		return max(k.s.Contenders, 1)
	}
	return 1
}

func (k kind) MarshalJSON() ([]byte, error) { return json.Marshal(k.s) }

func (k kind) Validate() error {
	if err := k.validate(); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	return nil
}

// validate is Validate without the package prefix.
func (k kind) validate() error {
	s := k.s
	bad := func(format string, args ...any) error {
		return fmt.Errorf("invalid %v: "+format, append([]any{k}, args...)...)
	}
	switch s.Type {
	case TypeCpuSpin, TypeYieldHeavy, TypeMixed, TypeIoSync, TypePipeIo, TypeFutexPingPong,
		TypeForkExit, TypeNiceSweep, TypeAffinityChurn, TypePolicyChurn, TypePageFaultChurn:
	case TypeBursty:
		if s.Burst <= 0 || s.Sleep < 0 {
			return bad("burst must be positive and sleep not negative")
		}
	case TypeCachePressure:
		if s.Size <= 0 || s.Stride <= 0 {
			return bad("size and stride must be positive")
		}
	case TypeFutexFanOut:
		if s.FanOut < 1 || s.FanOut+1 > maxGroup {
			return bad("fan-out must be in [1, %d]", maxGroup-1)
		}
	case TypeMutexContention:
		if s.Contenders < 1 || s.Contenders > maxGroup {
			return bad("contenders must be in [1, %d]", maxGroup)
		}
	case TypeSequence:
		if len(s.Phases) == 0 {
			return bad("no phases")
		}
		for i, p := range s.Phases {
			if err := p.validate(); err != nil {
				return bad("phase %d: %v", i, err)
			}
		}
	case TypeCustom:
		return checkCustom(s.Name)
	default:
		return fmt.Errorf("unknown work type %q", s.Type)
	}
	return nil
}

// ParseKind reads a Kind from its JSON form (Kind.MarshalJSON) and
// validates it.
func ParseKind(data []byte) (Kind, error) {
	var s kindSpec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("workload: parse kind: %w", err)
	}
	k := kind{s}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	return k, nil
}

// Phase is one step of a Sequence.
type Phase struct {
	Op  PhaseOp       `json:"op"`
	Dur time.Duration `json:"dur"`
}

// PhaseOp is what a Phase does.
type PhaseOp string

// Phase operations.
const (
	OpSpin  PhaseOp = "spin"  // spin on arithmetic
	OpSleep PhaseOp = "sleep" // sleep once for the whole duration
	OpYield PhaseOp = "yield" // call sched_yield(2) in a loop
	OpIo    PhaseOp = "io"    // IoSync's write+fdatasync, in a loop
)

// Spin is a Sequence phase that spins for d.
func Spin(d time.Duration) Phase { return Phase{OpSpin, d} }

// Sleep is a Sequence phase that sleeps for d.
func Sleep(d time.Duration) Phase { return Phase{OpSleep, d} }

// Yield is a Sequence phase that yields the CPU repeatedly for d.
func Yield(d time.Duration) Phase { return Phase{OpYield, d} }

// Io is a Sequence phase that writes and syncs blocks for d.
func Io(d time.Duration) Phase { return Phase{OpIo, d} }

func (p Phase) String() string {
	name := string(p.Op)
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	return fmt.Sprintf("%s(%v)", name, p.Dur)
}

func (p Phase) validate() error {
	switch p.Op {
	case OpSpin, OpSleep, OpYield, OpIo:
	default:
		return fmt.Errorf("unknown operation %q", p.Op)
	}
	if p.Dur <= 0 {
		return fmt.Errorf("%v: duration must be positive", p)
	}
	return nil
}
