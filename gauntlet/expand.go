package gauntlet

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Host holds the facts about the machine that runs the guests.
type Host struct {
	// Accel is the accelerator, "kvm" or "tcg"; anything but "kvm" is
	// treated as TCG.
	Accel string
	// CPUs is the number of host CPUs; below 1 counts as 1.
	CPUs int
	// MemAvailableMB is the memory available for a guest; 0 or less means
	// unknown, and memory is then not checked.
	MemAvailableMB int
	// Overcommit allows more vCPUs than host CPUs under KVM
	// (KTSTR_OVERCOMMIT=1). TCG is bounded by MaxTCGRatio instead.
	Overcommit bool
}

func (h Host) kvm() bool { return h.Accel == "kvm" }

func (h Host) cpus() int { return max(h.CPUs, 1) }

// Profile is one flag profile of the scheduler: Name is the flags joined
// with "+", or "default" for none.
type Profile struct {
	Name  string
	Flags []string
}

// Input is one test declaration, resolved, and the host it runs on.
type Input struct {
	// Test is the test's name (testing.T.Name), for features and sharding.
	Test string
	// Scheduler is the scheduler's display name ("eevdf" for none).
	Scheduler string
	// SchedExt reports a sched_ext scheduler (not EEVDF), whose load and
	// attach Estimate adds.
	SchedExt bool
	// Profiles are every valid flag profile, in order (EEVDF: one named
	// "default"). None counts as one profile named "default" with no flags.
	Profiles []Profile
	// Kernels are the labels of the kernels to run on (e.g. "6.12.117");
	// with none or one there is no kernel dimension.
	Kernels []string
	// Constraints are the merged constraints (test, scheduler, defaults).
	Constraints Constraints
	// MemoryMB is the test's MemoryMB, a floor on the guest's memory.
	MemoryMB int
	// Duration is the test's duration (DurationS).
	Duration time.Duration
	// Host is the machine the variants run on.
	Host Host
}

// Variant is one run of a test: a preset, a profile and a kernel.
type Variant struct {
	// Name is "gauntlet/<preset>/<profile>", plus "/<kernel>" with several
	// kernels: the subtest the root package runs it as.
	Name    string
	Preset  Preset
	Profile Profile
	// Kernel is the kernel's label, "" without a kernel dimension.
	Kernel string
	// KernelIndex is the index of the kernel in Input.Kernels: 0 with a
	// single kernel, and 0 (indexing nothing) with none.
	KernelIndex int
	// MemoryMB is the guest's memory: max(vCPUs × 64 MiB, 256 MiB,
	// Input.MemoryMB).
	MemoryMB int
	// Estimate is the expected wall time of the variant's VM (see Estimate).
	Estimate time.Duration
	// Features are what the variant covers, for ApplyBudget.
	Features []string
	// Key is Input.Test + "/" + Name, which ApplyShard hashes.
	Key string
	// Skip is why the variant does not run; "" when it runs.
	Skip string
}

// Guest memory floors of Expand.
const (
	memoryPerCPUMB = 64
	minMemoryMB    = 256
)

// Expand returns the variants of in: every preset (in Presets order) ×
// every profile (in Input.Profiles order) × every kernel (in Input.Kernels
// order), the kernel varying fastest. Variants that cannot run have Skip
// set to the first reason that applies: the constraints, the host's
// available memory, more vCPUs than host CPUs under KVM without
// Host.Overcommit, more than MaxTCGRatio vCPUs per host CPU under TCG.
func Expand(in Input) []Variant {
	profiles := in.Profiles
	if len(profiles) == 0 {
		profiles = []Profile{{Name: "default"}}
	}
	kernels := in.Kernels
	if len(kernels) == 0 {
		kernels = []string{""}
	}
	multiKernel := len(in.Kernels) > 1
	out := make([]Variant, 0, len(presets)*len(profiles)*len(kernels))
	for _, p := range presets {
		for _, prof := range profiles {
			for ki, k := range kernels {
				v := Variant{
					Name:        "gauntlet/" + p.Name + "/" + prof.Name,
					Preset:      p,
					Profile:     Profile{Name: prof.Name, Flags: append([]string(nil), prof.Flags...)},
					KernelIndex: ki,
					MemoryMB:    max(p.Topology.CPUs()*memoryPerCPUMB, minMemoryMB, in.MemoryMB),
					Estimate:    Estimate(p.Topology, in.Host, in.Duration, in.SchedExt),
				}
				if multiKernel {
					v.Name += "/" + k
					v.Kernel = k
				}
				v.Key = in.Test + "/" + v.Name
				v.Features = features(in, v, multiKernel)
				v.Skip = skipReason(in, v)
				out = append(out, v)
			}
		}
	}
	return out
}

// skipReason is why v cannot run on in.Host under in.Constraints, or "".
func skipReason(in Input, v Variant) string {
	t := v.Preset.Topology
	if ok, why := in.Constraints.Allows(t); !ok {
		return "constraints: " + why
	}
	h := in.Host
	if h.MemAvailableMB > 0 && v.MemoryMB > h.MemAvailableMB {
		return fmt.Sprintf("host: needs %d MB of memory, %d MB available", v.MemoryMB, h.MemAvailableMB)
	}
	vcpus, hcpus := t.CPUs(), h.cpus()
	if h.kvm() {
		if vcpus > hcpus && !h.Overcommit {
			return fmt.Sprintf("host: %d vCPUs > %d host CPUs under KVM (set KTSTR_OVERCOMMIT=1 to run it anyway)", vcpus, hcpus)
		}
		return ""
	}
	if vcpus > MaxTCGRatio*hcpus {
		r := math.Round(float64(vcpus)/float64(hcpus)*10) / 10
		return fmt.Sprintf("host: %d vCPUs on %d host CPUs under TCG is %s per CPU, over %d (boots too slowly to mean anything)",
			vcpus, hcpus, strconv.FormatFloat(r, 'f', -1, 64), MaxTCGRatio)
	}
	return ""
}

// features lists what v covers, in a fixed order: "sched:<scheduler>",
// "flag:<flag>" for each flag ("profile:default" for none),
// "cpus:<=8|<=16|<=64|<=128|>128", "llcs:1|2|3-4|5-8|>8", "smt:yes|no",
// "numa:1|2|>2", "duration:<=2s|<=10s|<=60s|>60s", "kernel:<label>" with
// several kernels, and "test:<name>".
func features(in Input, v Variant, multiKernel bool) []string {
	t := v.Preset.Topology
	sched := in.Scheduler
	if sched == "" {
		sched = "eevdf"
	}
	f := []string{"sched:" + sched}
	if len(v.Profile.Flags) == 0 {
		f = append(f, "profile:default")
	}
	for _, fl := range v.Profile.Flags {
		f = append(f, "flag:"+fl)
	}
	f = append(f,
		"cpus:"+bucket(t.CPUs(), []int{8, 16, 64, 128}, []string{"<=8", "<=16", "<=64", "<=128", ">128"}),
		"llcs:"+bucket(t.LLCs, []int{1, 2, 4, 8}, []string{"1", "2", "3-4", "5-8", ">8"}),
		"smt:"+map[bool]string{true: "yes", false: "no"}[t.SMT()],
		"numa:"+bucket(t.NumaNodes, []int{1, 2}, []string{"1", "2", ">2"}),
		"duration:"+bucket(in.Duration, []time.Duration{2 * time.Second, 10 * time.Second, time.Minute}, []string{"<=2s", "<=10s", "<=60s", ">60s"}),
	)
	if multiKernel {
		f = append(f, "kernel:"+v.Kernel)
	}
	return append(f, "test:"+in.Test)
}

// bucket returns labels[i] for the first upper bound uppers[i] with n ≤
// uppers[i], else the last label.
func bucket[T cmp.Ordered](n T, uppers []T, labels []string) string {
	for i, u := range uppers {
		if n <= u {
			return labels[i]
		}
	}
	return labels[len(uppers)]
}
