package workload

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testCustom = Custom("test-custom", func(c *Control) error {
	for c.Running() {
		c.Progress(3)
	}
	return nil
})

func TestKindDescriptions(t *testing.T) {
	tests := []struct {
		kind      Kind
		name, str string
		group     int
	}{
		{CpuSpin(), "CpuSpin", "CpuSpin", 1},
		{Bursty(5*time.Millisecond, 10*time.Millisecond), "Bursty", "Bursty(5ms, 10ms)", 1},
		{PipeIo(), "PipeIo", "PipeIo", 2},
		{FutexPingPong(), "FutexPingPong", "FutexPingPong", 2},
		{CachePressure(1<<20, 64), "CachePressure", "CachePressure(1048576, 64)", 1},
		{FutexFanOut(3), "FutexFanOut", "FutexFanOut(3)", 4},
		{MutexContention(4), "MutexContention", "MutexContention(4)", 4},
		{Sequence(Spin(time.Millisecond), Sleep(2*time.Millisecond)), "Sequence", "Sequence(Spin(1ms), Sleep(2ms))", 1},
		{testCustom, "test-custom", `Custom("test-custom")`, 1},
	}
	for _, tt := range tests {
		if got := tt.kind.Name(); got != tt.name {
			t.Errorf("Name() = %q, want %q", got, tt.name)
		}
		if got := tt.kind.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if got := tt.kind.GroupSize(); got != tt.group {
			t.Errorf("%v: GroupSize() = %d, want %d", tt.kind, got, tt.group)
		}
	}
}

func TestKindJSONRoundTrip(t *testing.T) {
	for _, k := range allKinds() {
		data, err := json.Marshal(k)
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		got, err := ParseKind(data)
		if err != nil {
			t.Fatalf("ParseKind(%s): %v", data, err)
		}
		if diff := cmp.Diff(k.spec(), got.spec()); diff != "" {
			t.Errorf("%v: round trip (-want +got):\n%s", k, diff)
		}
	}
	if _, err := ParseKind([]byte(`{"type":"Nope"}`)); err == nil {
		t.Error("ParseKind accepted an unknown type")
	}
}

func TestKindValidate(t *testing.T) {
	bad := []Kind{
		Bursty(0, time.Millisecond),
		CachePressure(0, 64),
		CachePressure(64, 0),
		FutexFanOut(0),
		FutexFanOut(maxGroup),
		MutexContention(0),
		Sequence(),
		Sequence(Phase{Op: "jump", Dur: time.Second}),
		Sequence(Spin(0)),
		Custom("", func(*Control) error { return nil }),
		Custom("nil-fn", nil),
		Custom(TypeCpuSpin, func(*Control) error { return nil }),
		Custom("never-registered-twice", func(*Control) error { return nil }),
	}
	// A name registered twice is refused, whichever Kind value is used.
	bad = append(bad, Custom("never-registered-twice", func(*Control) error { return nil }))
	for _, k := range bad {
		if err := k.Validate(); err == nil {
			t.Errorf("%v: Validate() = nil, want an error", k)
		}
	}
	for _, k := range allKinds() {
		if err := k.Validate(); err != nil {
			t.Errorf("%v: %v", k, err)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	err := Spec{Kind: FutexFanOut(2), Count: 4}.Validate()
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("Validate() = %v, want ErrInvalidSpec", err)
	}
	for _, want := range []string{"Count 4", "group size 3", "FutexFanOut(2)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	bad := []Spec{
		{Count: 1},
		{Kind: CpuSpin()},
		{Kind: CpuSpin(), Count: 1, Affinity: []int{}},
		{Kind: CpuSpin(), Count: 1, Affinity: []int{-1}},
		{Kind: CpuSpin(), Count: 1, Policy: FIFO(0)},
		{Kind: CpuSpin(), Count: 1, Policy: Policy{Class: ClassBatch, Priority: 3}},
		{Kind: CpuSpin(), Count: 1, Policy: Policy{Class: "deadline"}},
		{Kind: CpuSpin(), Count: 1, Nice: 20},
		{Kind: CpuSpin(), Count: 1, MemPolicy: Bind()},
		{Kind: CpuSpin(), Count: 1, MemPolicy: MemPolicy{Mode: MemPreferred, Nodes: []int{0, 1}}},
	}
	for _, s := range bad {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%+v: Validate() = %v, want ErrInvalidSpec", s, err)
		}
	}
	if _, err := Start(Spec{Kind: PipeIo(), Count: 3}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Start with Count 3 of PipeIo: %v, want ErrInvalidSpec", err)
	}
}

// allKinds has one Kind of every work type, sized for quick tests.
func allKinds() []Kind {
	return []Kind{
		CpuSpin(), YieldHeavy(), Mixed(), IoSync(),
		Bursty(2*time.Millisecond, 3*time.Millisecond),
		PipeIo(), FutexPingPong(),
		CachePressure(1<<20, 64),
		FutexFanOut(3),
		ForkExit(), NiceSweep(), AffinityChurn(), PolicyChurn(), PageFaultChurn(),
		MutexContention(3),
		MutexContention(1), // uncontended
		Sequence(Spin(5*time.Millisecond), Sleep(2*time.Millisecond), Yield(2*time.Millisecond), Io(2*time.Millisecond)),
		testCustom,
	}
}
