package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/topology"
)

// host builds a Host of llcs LLCs of per CPUs each, nodes NUMA nodes
// (LLCs split evenly), and free hugepages.
func host(llcs, per, nodes, free int) Host {
	h := Host{LLC: map[int]int{}, Node: map[int]int{}, FreeHugepages: free}
	for l := range llcs {
		for i := range per {
			c := l*per + i
			h.CPUs = append(h.CPUs, c)
			h.LLC[c] = l
			h.Node[c] = l * nodes / llcs
		}
	}
	return h
}

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		name    string
		h       Host
		topo    string
		mem     int
		vcpus   []int
		service int
		shared  bool
		nodes   [][]int
		huge    bool
		unfit   string
	}{
		// This machine: 2 CPUs, one LLC.
		{name: "1 vCPU on 2 CPUs", h: host(1, 2, 1, 0), topo: "1n1l1c1t", mem: 256, vcpus: []int{0}, service: 1, nodes: [][]int{{0}}},
		{name: "2 vCPUs on 2 CPUs", h: host(1, 2, 1, 0), topo: "1n1l2c1t", mem: 256, unfit: "2 vCPUs need 3 host CPUs (one each, and a service CPU); this host has 2"},
		// Two virtual LLCs on distinct host LLCs; the service CPU in a
		// third host LLC nobody uses.
		{name: "distinct LLCs", h: host(3, 4, 1, 0), topo: "1n2l4c1t", mem: 512, vcpus: []int{0, 1, 2, 3, 4, 5, 6, 7}, service: 8, nodes: [][]int{{0}}},
		// No LLC left over: the service CPU is the last free CPU.
		{name: "service in a used LLC", h: host(2, 8, 1, 0), topo: "1n2l4c1t", mem: 512, vcpus: []int{0, 1, 2, 3, 8, 9, 10, 11}, service: 15, nodes: [][]int{{0}}},
		// More virtual LLCs than host LLCs: they share.
		{name: "shared LLCs", h: host(1, 8, 1, 0), topo: "1n3l2c1t", mem: 512, vcpus: []int{0, 1, 2, 3, 4, 5}, service: 7, shared: true, nodes: [][]int{{0}}},
		// Guest NUMA nodes bound to the host nodes of their vCPUs' CPUs.
		{name: "NUMA", h: host(2, 4, 2, 0), topo: "2n2l2c1t", mem: 1024, vcpus: []int{0, 1, 4, 5}, service: 7, nodes: [][]int{{0}, {1}}},
		{name: "hugepages", h: host(1, 4, 1, 1024), topo: "1n1l1c1t", mem: 2048, vcpus: []int{0}, service: 3, nodes: [][]int{{0}}, huge: true},
		{name: "too few hugepages", h: host(1, 4, 1, 1023), topo: "1n1l1c1t", mem: 2048, vcpus: []int{0}, service: 3, nodes: [][]int{{0}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			topo, err := topology.Parse(c.topo)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Plan(c.h, topo, c.mem)
			if c.unfit != "" {
				if !IsUnfit(err) || !strings.Contains(err.Error(), c.unfit) {
					t.Fatalf("Plan = %+v, %v; want unfit: %s", p, err, c.unfit)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.VCPUs, c.vcpus) || p.Service != c.service || p.SharedLLCs != c.shared || fmt.Sprint(p.HostNodes) != fmt.Sprint(c.nodes) || p.Hugepages != c.huge {
				t.Errorf("Plan = %+v, want vcpus %v service %d shared %v nodes %v hugepages %v", p, c.vcpus, c.service, c.shared, c.nodes, c.huge)
			}
			if slices.Contains(p.VCPUs, p.Service) {
				t.Errorf("service CPU %d is a vCPU's", p.Service)
			}
			if !c.huge && c.h.FreeHugepages > 0 && !strings.Contains(strings.Join(p.Notes, "\n"), "nr_hugepages") {
				t.Errorf("notes %q do not say how to get hugepages", p.Notes)
			}
		})
	}
}

func TestReadHost(t *testing.T) {
	root := t.TempDir()
	write := func(path, s string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("devices/system/cpu/online", "0-3")
	for c := range 4 {
		d := fmt.Sprintf("devices/system/cpu/cpu%d/", c)
		write(d+"cache/index0/level", "1")
		write(d+"cache/index0/type", "Data")
		write(d+"cache/index0/id", fmt.Sprint(c))
		write(d+"cache/index3/level", "3")
		write(d+"cache/index3/type", "Unified")
		write(d+"cache/index3/id", fmt.Sprint(c/2+10))
		if err := os.MkdirAll(filepath.Join(root, d, fmt.Sprintf("node%d", c/2)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "7")
	h, err := ReadHost(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.CPUs, []int{0, 1, 2, 3}) || h.LLC[1] != 10 || h.LLC[2] != 11 || h.Node[3] != 1 || h.FreeHugepages != 7 {
		t.Errorf("ReadHost = %+v", h)
	}
	if _, err := ReadHost(t.TempDir()); err == nil {
		t.Error("ReadHost of an empty root succeeded")
	}
	// This host, for real.
	if h, err := ReadHost("/sys"); err != nil || len(h.CPUs) == 0 {
		t.Errorf("ReadHost(/sys) = %+v, %v", h, err)
	}
}

func TestLockPaths(t *testing.T) {
	got := LockPaths("/d", Placement{VCPUs: []int{3, 1}, Service: 2}.CPUs())
	if !slices.Equal(got, []string{"/d/cpu-1.lock", "/d/cpu-2.lock", "/d/cpu-3.lock"}) {
		t.Errorf("LockPaths = %q", got)
	}
}
