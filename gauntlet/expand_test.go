package gauntlet

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// running returns the names of the presets of vs that run.
func running(vs []Variant) []string {
	var out []string
	for _, v := range vs {
		if v.Skip == "" {
			out = append(out, v.Preset.Name)
		}
	}
	return out
}

// skips maps preset name to skip reason.
func skips(vs []Variant) map[string]string {
	m := map[string]string{}
	for _, v := range vs {
		m[v.Preset.Name] = v.Skip
	}
	return m
}

func TestExpandFilter(t *testing.T) {
	def := DefaultConstraints()
	numa4 := MergeConstraints(def, Constraints{MaxNumaNodes: 4})
	tcg2 := Host{Accel: "tcg", CPUs: 2, MemAvailableMB: 64 << 10}
	small := []string{"tiny-1llc", "tiny-2llc", "odd-3llc", "odd-5llc", "odd-7llc", "smt-2llc", "smt-3llc"}
	upTo16 := append(slices.Clone(small), "numa2-4llc")
	for _, tc := range []struct {
		name    string
		c       Constraints
		h       Host
		memMB   int
		running []string
		skips   map[string]string // some presets' reasons
	}{
		{
			name: "tcg 2 CPUs, default constraints", c: def, h: tcg2, running: small,
			skips: map[string]string{
				"numa2-4llc":   "constraints: 2 NUMA nodes > MaxNumaNodes 1",
				"near-max-llc": "constraints: 15 LLCs > MaxLLCs 12",
				"max-cpu":      "constraints: 14 LLCs > MaxLLCs 12",
				"medium-4llc":  "host: 32 vCPUs on 2 host CPUs under TCG is 16 per CPU, over 8 (boots too slowly to mean anything)",
				"medium-8llc":  "host: 64 vCPUs on 2 host CPUs under TCG is 32 per CPU, over 8 (boots too slowly to mean anything)",
				"numa4-8llc":   "constraints: 4 NUMA nodes > MaxNumaNodes 1",
			},
		},
		{
			name: "tcg 2 CPUs, MaxNumaNodes 4", c: numa4, h: tcg2, running: upTo16,
			skips: map[string]string{
				"numa2-4llc": "",
				"numa4-8llc": "host: 32 vCPUs on 2 host CPUs under TCG is 16 per CPU, over 8 (boots too slowly to mean anything)",
			},
		},
		{
			name: "tcg 3 CPUs: ratio not whole", c: numa4, h: Host{Accel: "tcg", CPUs: 3},
			running: upTo16,
			skips: map[string]string{
				"medium-4llc-nosmt": "host: 32 vCPUs on 3 host CPUs under TCG is 10.7 per CPU, over 8 (boots too slowly to mean anything)",
				"medium-8llc":       "host: 64 vCPUs on 3 host CPUs under TCG is 21.3 per CPU, over 8 (boots too slowly to mean anything)",
			},
		},
		{
			name: "kvm 16 CPUs without overcommit", c: numa4, h: Host{Accel: "kvm", CPUs: 16, MemAvailableMB: 64 << 10},
			running: upTo16,
			skips: map[string]string{
				"medium-4llc": "host: 32 vCPUs > 16 host CPUs under KVM (set KTSTR_OVERCOMMIT=1 to run it anyway)",
				"max-cpu":     "constraints: 14 LLCs > MaxLLCs 12",
			},
		},
		{
			name: "kvm 16 CPUs with overcommit", c: numa4, h: Host{Accel: "kvm", CPUs: 16, MemAvailableMB: 64 << 10, Overcommit: true},
			running: []string{
				"tiny-1llc", "tiny-2llc", "odd-3llc", "odd-5llc", "odd-7llc", "smt-2llc", "smt-3llc",
				"medium-4llc", "medium-8llc", "large-4llc", "large-8llc",
				"medium-4llc-nosmt", "medium-8llc-nosmt", "large-4llc-nosmt", "large-8llc-nosmt",
				"numa2-4llc", "numa2-8llc", "numa2-8llc-nosmt", "numa4-8llc", "numa4-12llc",
			},
		},
		{
			name: "memory before KVM vCPUs", c: numa4, h: Host{Accel: "kvm", CPUs: 16, MemAvailableMB: 6000},
			running: upTo16,
			skips: map[string]string{
				"medium-8llc": "host: 64 vCPUs > 16 host CPUs under KVM (set KTSTR_OVERCOMMIT=1 to run it anyway)",
				"large-4llc":  "host: needs 8192 MB of memory, 6000 MB available",
				"numa4-12llc": "host: needs 12288 MB of memory, 6000 MB available",
			},
		},
		{
			name: "memory before TCG ratio; the test's MemoryMB counts", c: def, h: Host{Accel: "tcg", CPUs: 2, MemAvailableMB: 1000}, memMB: 1024,
			skips: map[string]string{
				"tiny-1llc":   "host: needs 1024 MB of memory, 1000 MB available",
				"max-cpu":     "constraints: 14 LLCs > MaxLLCs 12",
				"medium-8llc": "host: needs 4096 MB of memory, 1000 MB available",
			},
		},
		{
			name: "unknown memory is not checked", c: numa4, h: Host{Accel: "kvm", CPUs: 512},
			running: []string{
				"tiny-1llc", "tiny-2llc", "odd-3llc", "odd-5llc", "odd-7llc", "smt-2llc", "smt-3llc",
				"medium-4llc", "medium-8llc", "large-4llc", "large-8llc",
				"medium-4llc-nosmt", "medium-8llc-nosmt", "large-4llc-nosmt", "large-8llc-nosmt",
				"numa2-4llc", "numa2-8llc", "numa2-8llc-nosmt", "numa4-8llc", "numa4-12llc",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Expand(Input{Test: "TestX", Scheduler: "eevdf", Constraints: tc.c, MemoryMB: tc.memMB, Host: tc.h})
			if got := running(vs); !slices.Equal(got, tc.running) {
				t.Errorf("running %v\nwant    %v", got, tc.running)
			}
			got := skips(vs)
			for p, why := range tc.skips {
				if got[p] != why {
					t.Errorf("%s: Skip %q, want %q", p, got[p], why)
				}
			}
		})
	}
}

func TestExpandNames(t *testing.T) {
	profiles := []Profile{{Name: "default"}, {Name: "llc", Flags: []string{"llc"}}, {Name: "llc+steal", Flags: []string{"llc", "steal"}}}
	for _, tc := range []struct {
		kernels []string
		first   []string
		kernel  []string
		index   []int
	}{
		{nil, []string{"gauntlet/tiny-1llc/default", "gauntlet/tiny-1llc/llc", "gauntlet/tiny-1llc/llc+steal", "gauntlet/tiny-2llc/default"},
			[]string{"", "", "", ""}, []int{0, 0, 0, 0}},
		{[]string{"6.12.117"}, []string{"gauntlet/tiny-1llc/default", "gauntlet/tiny-1llc/llc", "gauntlet/tiny-1llc/llc+steal", "gauntlet/tiny-2llc/default"},
			[]string{"", "", "", ""}, []int{0, 0, 0, 0}},
		{[]string{"6.12.117", "6.16"}, []string{"gauntlet/tiny-1llc/default/6.12.117", "gauntlet/tiny-1llc/default/6.16", "gauntlet/tiny-1llc/llc/6.12.117", "gauntlet/tiny-1llc/llc/6.16"},
			[]string{"6.12.117", "6.16", "6.12.117", "6.16"}, []int{0, 1, 0, 1}},
		{[]string{"a", "b", "c"}, []string{"gauntlet/tiny-1llc/default/a", "gauntlet/tiny-1llc/default/b", "gauntlet/tiny-1llc/default/c", "gauntlet/tiny-1llc/llc/a"},
			[]string{"a", "b", "c", "a"}, []int{0, 1, 2, 0}},
	} {
		vs := Expand(Input{Test: "TestN", Scheduler: "scx_x", Profiles: profiles, Kernels: tc.kernels, Constraints: DefaultConstraints(),
			Host: Host{Accel: "kvm", CPUs: 512}})
		if want := 24 * 3 * max(len(tc.kernels), 1); len(vs) != want {
			t.Errorf("kernels %v: %d variants, want %d", tc.kernels, len(vs), want)
		}
		seen := map[string]bool{}
		for i, v := range vs {
			if seen[v.Name] {
				t.Errorf("kernels %v: duplicate name %s", tc.kernels, v.Name)
			}
			seen[v.Name] = true
			if v.Key != "TestN/"+v.Name {
				t.Errorf("Key %q for %s", v.Key, v.Name)
			}
			if i < len(tc.first) && (v.Name != tc.first[i] || v.Kernel != tc.kernel[i] || v.KernelIndex != tc.index[i]) {
				t.Errorf("kernels %v: variant %d = %s %q %d, want %s %q %d", tc.kernels, i, v.Name, v.Kernel, v.KernelIndex, tc.first[i], tc.kernel[i], tc.index[i])
			}
		}
		if last := vs[len(vs)-1]; !strings.HasPrefix(last.Name, "gauntlet/numa4-12llc/llc+steal") {
			t.Errorf("last variant %s", last.Name)
		}
	}
	// No profiles: one named default.
	if vs := Expand(Input{Constraints: DefaultConstraints()}); len(vs) != 24 || vs[0].Name != "gauntlet/tiny-1llc/default" {
		t.Errorf("no profiles: %d variants, first %s", len(vs), vs[0].Name)
	}
}

func TestExpandVariant(t *testing.T) {
	in := Input{
		Test: "TestF", Scheduler: "scx_x", SchedExt: true,
		Profiles:    []Profile{{Name: "default"}, {Name: "a+b", Flags: []string{"a", "b"}}},
		Kernels:     []string{"6.12", "6.16"},
		Constraints: MergeConstraints(DefaultConstraints(), Constraints{MaxNumaNodes: 4}),
		MemoryMB:    512, Duration: 20 * time.Second,
		Host: Host{Accel: "tcg", CPUs: 2},
	}
	vs := Expand(in)
	byName := map[string]Variant{}
	for _, v := range vs {
		byName[v.Name] = v
	}
	for _, tc := range []struct {
		name     string
		memMB    int
		features []string
	}{
		{"gauntlet/tiny-1llc/default/6.12", 512,
			[]string{"sched:scx_x", "profile:default", "cpus:<=8", "llcs:1", "smt:no", "numa:1", "duration:<=60s", "kernel:6.12", "test:TestF"}},
		{"gauntlet/numa4-12llc/a+b/6.16", 192 * 64,
			[]string{"sched:scx_x", "flag:a", "flag:b", "cpus:>128", "llcs:>8", "smt:yes", "numa:>2", "duration:<=60s", "kernel:6.16", "test:TestF"}},
		{"gauntlet/odd-5llc/a+b/6.12", 960,
			[]string{"sched:scx_x", "flag:a", "flag:b", "cpus:<=16", "llcs:5-8", "smt:no", "numa:1", "duration:<=60s", "kernel:6.12", "test:TestF"}},
		{"gauntlet/numa2-4llc/default/6.16", 1024,
			[]string{"sched:scx_x", "profile:default", "cpus:<=16", "llcs:3-4", "smt:no", "numa:2", "duration:<=60s", "kernel:6.16", "test:TestF"}},
	} {
		v, ok := byName[tc.name]
		if !ok {
			t.Errorf("no variant %s", tc.name)
			continue
		}
		if v.MemoryMB != tc.memMB {
			t.Errorf("%s: MemoryMB %d, want %d", tc.name, v.MemoryMB, tc.memMB)
		}
		if !slices.Equal(v.Features, tc.features) {
			t.Errorf("%s: Features %v\nwant %v", tc.name, v.Features, tc.features)
		}
		if want := Estimate(v.Preset.Topology, in.Host, in.Duration, true); v.Estimate != want {
			t.Errorf("%s: Estimate %v, want %v", tc.name, v.Estimate, want)
		}
	}
	// Profiles are copied, so changing a variant's flags leaves in alone.
	vs[2].Profile.Flags[0] = "changed"
	if in.Profiles[1].Flags[0] != "a" {
		t.Error("Expand shares the profile's flags")
	}
}

func TestFeatureBuckets(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{1, "<=8"}, {8, "<=8"}, {9, "<=16"}, {16, "<=16"}, {17, "<=64"}, {64, "<=64"}, {65, "<=128"}, {128, "<=128"}, {129, ">128"}} {
		if got := bucket(tc.n, []int{8, 16, 64, 128}, []string{"<=8", "<=16", "<=64", "<=128", ">128"}); got != tc.want {
			t.Errorf("cpus bucket(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "duration:<=2s"}, {2 * time.Second, "duration:<=2s"}, {2*time.Second + 1, "duration:<=10s"}, {time.Minute, "duration:<=60s"}, {time.Hour, "duration:>60s"}} {
		vs := Expand(Input{Duration: tc.d})
		if !slices.Contains(vs[0].Features, tc.want) {
			t.Errorf("duration %v: features %v, want %s", tc.d, vs[0].Features, tc.want)
		}
	}
	// Without a scheduler name the feature is eevdf's; one kernel adds no
	// kernel feature.
	vs := Expand(Input{Kernels: []string{"6.12"}})
	if f := fmt.Sprint(vs[0].Features); !strings.Contains(f, "sched:eevdf") || strings.Contains(f, "kernel:") {
		t.Errorf("features %s", f)
	}
}
