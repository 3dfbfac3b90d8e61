// Package perf plans performance mode (ktstr.Test.PerformanceMode): which
// host CPU each vCPU is pinned to, so that virtual LLCs land on distinct
// host LLCs where the host has enough of them; the service CPU for QEMU's
// other threads and the harness's; the host NUMA nodes each guest node's
// RAM is bound to; whether there are enough free 2 MiB hugepages; and the
// lock files that keep other VMs off those CPUs. It reads the host from
// sysfs and decides; package vm applies the result.
package perf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ktstr-go/ktstr/topology"
)

// Host is what performance mode needs to know of the host.
type Host struct {
	// CPUs are the online CPUs; LLC and Node map each to its last-level
	// cache id and NUMA node.
	CPUs []int
	LLC  map[int]int
	Node map[int]int
	// FreeHugepages is the number of free 2 MiB hugepages.
	FreeHugepages int
}

// ReadHost reads the host from sysRoot ("/sys").
func ReadHost(sysRoot string) (Host, error) {
	h := Host{LLC: map[int]int{}, Node: map[int]int{}}
	raw, err := os.ReadFile(filepath.Join(sysRoot, "devices/system/cpu/online"))
	if err != nil {
		return h, fmt.Errorf("perf: host CPUs: %w", err)
	}
	if h.CPUs, err = topology.ParseList(strings.TrimSpace(string(raw))); err != nil {
		return h, fmt.Errorf("perf: host CPUs: %w", err)
	}
	for _, c := range h.CPUs {
		dir := filepath.Join(sysRoot, fmt.Sprintf("devices/system/cpu/cpu%d", c))
		h.LLC[c] = lastLevelCache(dir, c)
		h.Node[c] = 0
		if ents, err := filepath.Glob(filepath.Join(dir, "node*")); err == nil && len(ents) > 0 {
			if n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(ents[0]), "node")); err == nil {
				h.Node[c] = n
			}
		}
	}
	h.FreeHugepages = FreeHugepages(sysRoot)
	return h, nil
}

// FreeHugepages reads how many 2 MiB hugepages are free now (0 when
// sysRoot has no hugepages).
func FreeHugepages(sysRoot string) int {
	n, _ := readInt(filepath.Join(sysRoot, "kernel/mm/hugepages/hugepages-2048kB/free_hugepages"))
	return n
}

// lastLevelCache returns the id of CPU c's highest-level cache (its first
// CPU when the cache has no id), or c itself when sysfs has no caches.
func lastLevelCache(cpuDir string, c int) int {
	ents, _ := filepath.Glob(filepath.Join(cpuDir, "cache/index*"))
	best, id := -1, c
	for _, e := range ents {
		lvl, err := readInt(filepath.Join(e, "level"))
		if err != nil || lvl < best {
			continue
		}
		if t, _ := os.ReadFile(filepath.Join(e, "type")); strings.TrimSpace(string(t)) == "Instruction" {
			continue
		}
		best = lvl
		if v, err := readInt(filepath.Join(e, "id")); err == nil {
			id = v
		} else if raw, err := os.ReadFile(filepath.Join(e, "shared_cpu_list")); err == nil {
			if l, err := topology.ParseList(strings.TrimSpace(string(raw))); err == nil && len(l) > 0 {
				id = l[0]
			}
		}
	}
	return id
}

func readInt(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// Placement is a performance-mode VM's place on the host.
type Placement struct {
	// VCPUs is the host CPU of each vCPU, by guest CPU number.
	VCPUs []int `json:"vcpus"`
	// Service is the host CPU of QEMU's other threads and of the harness's
	// threads for the VM (frame reader, monitor).
	Service int `json:"service"`
	// SharedLLCs is set when the host has too few LLCs for one per virtual
	// LLC, so some virtual LLCs share a host LLC.
	SharedLLCs bool `json:"shared_llcs,omitempty"`
	// HostNodes are, per guest NUMA node, the host nodes of its vCPUs'
	// CPUs: where its RAM is bound.
	HostNodes [][]int `json:"host_nodes"`
	// Hugepages is whether guest RAM comes from 2 MiB hugepages.
	Hugepages bool `json:"hugepages"`
	// Notes say what the host could not give (hugepages, distinct LLCs).
	Notes []string `json:"notes,omitempty"`
}

// CPUs returns every host CPU the placement uses, ascending.
func (p Placement) CPUs() []int {
	out := append([]int{p.Service}, p.VCPUs...)
	sort.Ints(out)
	return out
}

// Unfit is Plan's error when the host cannot give the VM what performance
// mode asks: the test is skipped with Reason.
type Unfit struct{ Reason string }

func (u *Unfit) Error() string { return "performance mode: " + u.Reason }

// IsUnfit reports whether err is an Unfit.
func IsUnfit(err error) bool {
	var u *Unfit
	return errors.As(err, &u)
}

// Plan places a guest of topology t with memoryMB of RAM on host h: each
// virtual LLC on a host LLC of its own (the host LLCs with the most CPUs
// first), each vCPU on a CPU of its own, and the service CPU on a CPU no
// vCPU uses, in an LLC no vCPU uses where there is one. It fails with
// *Unfit when the host has fewer CPUs than vCPUs + 1.
func Plan(h Host, t topology.Topology, memoryMB int) (Placement, error) {
	n := t.CPUs()
	if len(h.CPUs) < n+1 {
		return Placement{}, &Unfit{fmt.Sprintf("%d vCPUs need %d host CPUs (one each, and a service CPU); this host has %d", n, n+1, len(h.CPUs))}
	}
	groups := llcGroups(h)
	per := t.CPUsPerLLC()
	var p Placement
	used := map[int]bool{}
	fits := 0
	for _, g := range groups {
		if len(g) >= per {
			fits++
		}
	}
	if fits >= t.LLCs {
		// One host LLC per virtual LLC, the largest first; the service CPU
		// prefers a host LLC left over.
		gi := 0
		for llc := 0; llc < t.LLCs; llc++ {
			for len(groups[gi]) < per {
				gi++
			}
			for _, c := range groups[gi][:per] {
				p.VCPUs = append(p.VCPUs, c)
				used[c] = true
			}
			groups[gi] = groups[gi][per:]
			gi++
		}
	} else {
		p.SharedLLCs = true
		p.Notes = append(p.Notes, fmt.Sprintf("the host has %d LLC(s) with room for a virtual LLC of %d CPUs, the guest %d virtual LLCs: some share a host LLC", fits, per, t.LLCs))
		for _, g := range groups {
			for _, c := range g {
				if len(p.VCPUs) < n {
					p.VCPUs = append(p.VCPUs, c)
					used[c] = true
				}
			}
		}
	}
	p.Service = -1
	vcpuLLC := map[int]bool{}
	for _, c := range p.VCPUs {
		vcpuLLC[h.LLC[c]] = true
	}
	for _, c := range h.CPUs { // an unused LLC first, then any free CPU
		if !used[c] && !vcpuLLC[h.LLC[c]] {
			p.Service = c
			break
		}
	}
	if p.Service < 0 {
		for i := len(h.CPUs) - 1; i >= 0; i-- {
			if c := h.CPUs[i]; !used[c] {
				p.Service = c
				break
			}
		}
	}
	p.HostNodes = make([][]int, t.NumaNodes)
	for node := range t.NumaNodes {
		set := map[int]bool{}
		for _, gc := range t.NodeCPUs(node) {
			set[h.Node[p.VCPUs[gc]]] = true
		}
		for hn := range set {
			p.HostNodes[node] = append(p.HostNodes[node], hn)
		}
		sort.Ints(p.HostNodes[node])
	}
	p.Hugepages, p.Notes = hugepages(h, t, memoryMB, p.Notes)
	return p, nil
}

// hugepages decides whether guest RAM fits in the host's free 2 MiB pages:
// each node's share must be a whole number of them.
func hugepages(h Host, t topology.Topology, memoryMB int, notes []string) (bool, []string) {
	sizes, err := t.NodeMemoryMB(memoryMB)
	if err != nil {
		return false, notes
	}
	need := 0
	for _, mb := range sizes {
		if mb%2 != 0 {
			return false, append(notes, fmt.Sprintf("guest node RAM of %d MB is not a whole number of 2 MiB hugepages: using normal pages", mb))
		}
		need += mb / 2
	}
	if h.FreeHugepages < need {
		return false, append(notes, fmt.Sprintf("%d free 2 MiB hugepages, %d needed: using normal pages (reserve them with: echo %d > /proc/sys/vm/nr_hugepages)", h.FreeHugepages, need, need))
	}
	return true, notes
}

// llcGroups returns the host's online CPUs by LLC, the LLCs with the most
// CPUs first (then by lowest CPU), each group ascending.
func llcGroups(h Host) [][]int {
	by := map[int][]int{}
	for _, c := range h.CPUs {
		by[h.LLC[c]] = append(by[h.LLC[c]], c)
	}
	var out [][]int
	for _, g := range by {
		sort.Ints(g)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i][0] < out[j][0]
	})
	return out
}

// LockPaths are the lock files in dir of the host CPUs cpus: a
// performance-mode VM holds them exclusively, other VMs shared (see
// package runner).
func LockPaths(dir string, cpus []int) []string {
	out := make([]string, len(cpus))
	for i, c := range cpus {
		out[i] = filepath.Join(dir, fmt.Sprintf("cpu-%d.lock", c))
	}
	return out
}
