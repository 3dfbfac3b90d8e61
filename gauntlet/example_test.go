package gauntlet_test

import (
	"cmp"
	"fmt"
	"time"

	"github.com/ktstr-go/ktstr/gauntlet"
)

// A test under a sched_ext scheduler with two flag profiles, allowed up to
// two NUMA nodes and four LLCs, on a 2-CPU host without KVM.
func ExampleExpand() {
	vs := gauntlet.Expand(gauntlet.Input{
		Test:        "TestDemo",
		Scheduler:   "scx_demo",
		SchedExt:    true,
		Profiles:    []gauntlet.Profile{{Name: "default"}, {Name: "llc", Flags: []string{"llc"}}},
		Constraints: gauntlet.MergeConstraints(gauntlet.DefaultConstraints(), gauntlet.Constraints{MaxLLCs: 4, MaxNumaNodes: 2}),
		Duration:    5 * time.Second,
		Host:        gauntlet.Host{Accel: "tcg", CPUs: 2, MemAvailableMB: 8192},
	})
	for _, v := range vs {
		if v.Profile.Name != "default" {
			continue // the llc profile's reasons are the same
		}
		if v.Skip == "" {
			fmt.Printf("%s: runs, about %v\n", v.Name, v.Estimate)
		} else {
			fmt.Printf("%s: %s\n", v.Name, v.Skip)
		}
	}

	// Budget (the same everywhere), then this machine's shard.
	fmt.Println(gauntlet.ApplyBudget(vs, 40*time.Second))
	var chosen []gauntlet.Variant
	for _, v := range vs {
		if v.Skip == "" {
			chosen = append(chosen, v)
		}
	}
	fmt.Println(gauntlet.ApplyShard(vs, gauntlet.Shard{Index: 0, Count: 2}), "of them run on shard 0/2")
	for _, v := range vs {
		for _, c := range chosen {
			if c.Key == v.Key {
				fmt.Printf("%s: %s\n", v.Name, cmp.Or(v.Skip, "runs"))
			}
		}
	}
	// Output:
	// gauntlet/tiny-1llc/default: runs, about 10.45s
	// gauntlet/tiny-2llc/default: runs, about 10.45s
	// gauntlet/odd-3llc/default: runs, about 14.554s
	// gauntlet/odd-5llc/default: constraints: 5 LLCs > MaxLLCs 4
	// gauntlet/odd-7llc/default: constraints: 7 LLCs > MaxLLCs 4
	// gauntlet/smt-2llc/default: runs, about 13.29s
	// gauntlet/smt-3llc/default: runs, about 18.345s
	// gauntlet/medium-4llc/default: host: 32 vCPUs on 2 host CPUs under TCG is 16 per CPU, over 8 (boots too slowly to mean anything)
	// gauntlet/medium-8llc/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/large-4llc/default: host: 128 vCPUs on 2 host CPUs under TCG is 64 per CPU, over 8 (boots too slowly to mean anything)
	// gauntlet/large-8llc/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/near-max-llc/default: constraints: 15 LLCs > MaxLLCs 4
	// gauntlet/max-cpu/default: constraints: 14 LLCs > MaxLLCs 4
	// gauntlet/medium-4llc-nosmt/default: host: 32 vCPUs on 2 host CPUs under TCG is 16 per CPU, over 8 (boots too slowly to mean anything)
	// gauntlet/medium-8llc-nosmt/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/large-4llc-nosmt/default: host: 128 vCPUs on 2 host CPUs under TCG is 64 per CPU, over 8 (boots too slowly to mean anything)
	// gauntlet/large-8llc-nosmt/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/near-max-llc-nosmt/default: constraints: 15 LLCs > MaxLLCs 4
	// gauntlet/max-cpu-nosmt/default: constraints: 14 LLCs > MaxLLCs 4
	// gauntlet/numa2-4llc/default: runs, about 23.4s
	// gauntlet/numa2-8llc/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/numa2-8llc-nosmt/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/numa4-8llc/default: constraints: 8 LLCs > MaxLLCs 4
	// gauntlet/numa4-12llc/default: constraints: 12 LLCs > MaxLLCs 4
	// budget 40 s: 3 of 12 variants, 38 of 181 s, 13 of 14 features
	// 2 of them run on shard 0/2
	// gauntlet/tiny-1llc/default: shard 0/2: runs on shard 1
	// gauntlet/odd-3llc/default: runs
	// gauntlet/smt-2llc/llc: runs
}
