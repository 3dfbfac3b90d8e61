package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Observed is the topology a running kernel reports in sysfs. Its JSON form
// is what `ktstr topo --json` prints.
type Observed struct {
	CPUs      int     `json:"cpus"`      // online CPUs
	LLCs      [][]int `json:"llcs"`      // CPUs sharing each last level cache, by first CPU
	SMT       [][]int `json:"smt"`       // SMT sibling groups, by first CPU
	NUMA      [][]int `json:"numa"`      // CPUs of each NUMA node, in node order
	Distances [][]int `json:"distances"` // NUMA distance matrix, in node order
}

// Read reads the topology the kernel reports under sysRoot (normally "/sys").
// The LLC of a CPU is its highest cache level's shared_cpu_list.
func Read(sysRoot string) (Observed, error) {
	cpuDir := filepath.Join(sysRoot, "devices/system/cpu")
	online, err := readList(filepath.Join(cpuDir, "online"))
	if err != nil {
		return Observed{}, fmt.Errorf("read topology: %w", err)
	}
	o := Observed{CPUs: len(online)}
	llcs, smt := map[string][]int{}, map[string][]int{}
	for _, c := range online {
		dir := filepath.Join(cpuDir, "cpu"+strconv.Itoa(c))
		llc, err := llcList(dir)
		if err != nil {
			return Observed{}, fmt.Errorf("read topology: cpu%d: %w", c, err)
		}
		llcs[FormatList(llc)] = llc
		sib, err := readList(filepath.Join(dir, "topology/thread_siblings_list"))
		if err != nil {
			return Observed{}, fmt.Errorf("read topology: cpu%d: %w", c, err)
		}
		smt[FormatList(sib)] = sib
	}
	o.LLCs, o.SMT = sortedGroups(llcs), sortedGroups(smt)

	nodeDir := filepath.Join(sysRoot, "devices/system/node")
	nodes, err := readList(filepath.Join(nodeDir, "online"))
	if err != nil {
		// A kernel without NUMA support has one implicit node.
		o.NUMA, o.Distances = [][]int{online}, [][]int{{10}}
		return o, nil
	}
	for _, n := range nodes {
		dir := filepath.Join(nodeDir, "node"+strconv.Itoa(n))
		cpus, err := readList(filepath.Join(dir, "cpulist"))
		if err != nil {
			return Observed{}, fmt.Errorf("read topology: node%d: %w", n, err)
		}
		o.NUMA = append(o.NUMA, cpus)
		raw, err := os.ReadFile(filepath.Join(dir, "distance"))
		if err != nil {
			return Observed{}, fmt.Errorf("read topology: node%d: %w", n, err)
		}
		var row []int
		for _, f := range strings.Fields(string(raw)) {
			d, err := strconv.Atoi(f)
			if err != nil {
				return Observed{}, fmt.Errorf("read topology: node%d distance %q: %w", n, f, err)
			}
			row = append(row, d)
		}
		o.Distances = append(o.Distances, row)
	}
	return o, nil
}

// llcList returns the shared_cpu_list of the highest-level cache of a CPU.
func llcList(cpuDir string) ([]int, error) {
	idx, _ := filepath.Glob(filepath.Join(cpuDir, "cache/index*"))
	best, bestLevel := "", -1
	for _, d := range idx {
		raw, err := os.ReadFile(filepath.Join(d, "level"))
		if err != nil {
			continue
		}
		if lvl, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && lvl > bestLevel {
			best, bestLevel = d, lvl
		}
	}
	if best == "" {
		return nil, fmt.Errorf("no cache information under %s/cache", cpuDir)
	}
	return readList(filepath.Join(best, "shared_cpu_list"))
}

func readList(path string) ([]int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseList(string(raw))
}

func sortedGroups(m map[string][]int) [][]int {
	out := make([][]int, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b []int) int { return a[0] - b[0] })
	return out
}

// Diff lists, one sentence each, how got differs from the topology o; it
// returns nil when they match.
func (o Observed) Diff(got Observed) []string {
	var d []string
	if o.CPUs != got.CPUs {
		d = append(d, fmt.Sprintf("online CPUs: want %d, guest has %d", o.CPUs, got.CPUs))
	}
	d = append(d, diffGroups("LLC groups", o.LLCs, got.LLCs)...)
	d = append(d, diffGroups("SMT sibling groups", o.SMT, got.SMT)...)
	d = append(d, diffGroups("NUMA nodes", o.NUMA, got.NUMA)...)
	if !slices.EqualFunc(o.Distances, got.Distances, slices.Equal[[]int]) {
		d = append(d, fmt.Sprintf("NUMA distances: want %v, guest has %v", o.Distances, got.Distances))
	}
	return d
}

func diffGroups(what string, want, got [][]int) []string {
	if slices.EqualFunc(want, got, slices.Equal[[]int]) {
		return nil
	}
	return []string{fmt.Sprintf("%s: want %s, guest has %s", what, formatGroups(want), formatGroups(got))}
}

func formatGroups(g [][]int) string {
	parts := make([]string, len(g))
	for i, c := range g {
		parts[i] = "[" + FormatList(c) + "]"
	}
	return fmt.Sprintf("%d %s", len(g), strings.Join(parts, " "))
}
