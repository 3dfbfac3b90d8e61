package topology

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseString(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Topology
		wantErr string
	}{
		{in: "1n2l4c2t", want: New(1, 2, 4, 2)},
		{in: "2n4l1c2t", want: New(2, 4, 1, 2)},
		{in: "1n1l2c1t", want: New(1, 1, 2, 1)},
		{in: "1n2l4c", wantErr: "want the form"},
		{in: "x", wantErr: "want the form"},
		{in: "1n0l2c1t", wantErr: "LLCs is 0"},
		{in: "2n3l2c1t", wantErr: "cannot be split evenly"},
		{in: "1n64l8c2t", wantErr: "1024 CPUs"},
		{in: "1n1l512c2t", wantErr: "1n1l512c2t has 1024 CPUs: at most 512"},
		{in: "1n1l512c1t", want: New(1, 1, 512, 1)},
		{in: "1n4611686018427387904l2c1t", wantErr: "LLCs is 4611686018427387904: at most 512"},
		{in: "1n1l1c4611686018427387904t", wantErr: "threads per core is 4611686018427387904: at most 512"},
		{in: "1n1l1c513t", wantErr: "threads per core is 513: at most 512"},
		{in: "1n1l1c99999999999999999999t", wantErr: "threads per core is 99999999999999999999: at most 512"},
		{in: "1n99999999999999999999l1c1t", wantErr: "LLCs is 99999999999999999999: at most 512"},
		{in: "99999999999999999999n1l1c1t", wantErr: "NUMA nodes is 99999999999999999999: at most 64"},
		{in: "1n2147483648l2147483648c2t", wantErr: "cores per LLC is 2147483648: at most 512"},
		{in: "128n128l1c1t", wantErr: "NUMA nodes is 128: at most 64"},
		{in: "64n64l1c1t", want: New(64, 64, 1, 1)},
		{in: "4n2l1c1t", wantErr: "each node needs at least one LLC"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

// TestValidateBoundsCPUs checks that every topology Validate accepts has
// between 1 and MaxCPUs CPUs, over all combinations of boundary and absurd
// counts (including ones whose product overflows an int).
func TestValidateBoundsCPUs(t *testing.T) {
	vals := []int{math.MinInt, -1, 0, 1, 2, 3, 8, 63, 64, 65, 511, 512, 513,
		1 << 21, 1 << 31, 1 << 32, 1 << 62, math.MaxInt / 2, math.MaxInt}
	accepted := 0
	for _, n := range vals {
		for _, l := range vals {
			for _, c := range vals {
				for _, th := range vals {
					topo := New(n, l, c, th)
					err := topo.Validate()
					if err == nil {
						accepted++
						if got := topo.CPUs(); got < 1 || got > MaxCPUs {
							t.Errorf("%v validates with %d CPUs, want 1 to %d", topo, got, MaxCPUs)
						}
						continue
					}
					if strings.Contains(err.Error(), "has -") {
						t.Errorf("%v: error %q shows a negative CPU count (an overflow)", topo, err)
					}
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no combination validated")
	}
}

// FuzzParse checks that whatever Parse accepts has between 1 and MaxCPUs
// CPUs and round-trips through String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1n2l4c2t", "2n4l1c2t", "1n4611686018427387904l2c1t", "1n1l512c2t", "64n64l8c1t", "1n1l1c99999999999999999999t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		topo, err := Parse(s)
		if err != nil {
			return
		}
		if n := topo.CPUs(); n < 1 || n > MaxCPUs {
			t.Fatalf("Parse(%q) = %v with %d CPUs", s, topo, n)
		}
		if _, err := Parse(topo.String()); err != nil {
			t.Fatalf("Parse(String()) of %v: %v", topo, err)
		}
	})
}

func TestValidateMemory(t *testing.T) {
	for _, tc := range []struct {
		topo    Topology
		mem     int
		wantErr string
	}{
		{topo: New(1, 1, 1, 1), mem: MinNodeMemoryMB},
		{topo: New(2, 2, 1, 1), mem: 2 * MinNodeMemoryMB},
		{topo: New(1, 1, 1, 1), mem: MaxMemoryMB},
		{topo: New(2, 2, 1, 1), mem: 2*MinNodeMemoryMB - 1, wantErr: "each node needs at least 64 MB"},
		{topo: New(1, 1, 1, 1), mem: 0, wantErr: "each node needs at least 64 MB"},
		{topo: New(1, 1, 1, 1), mem: math.MinInt, wantErr: "each node needs at least 64 MB"},
		{topo: New(1, 1, 1, 1), mem: MaxMemoryMB + 1, wantErr: "at most 1048576 MB (1 TiB)"},
		{topo: New(1, 1, 1, 1), mem: math.MaxInt, wantErr: "at most 1048576 MB (1 TiB)"},
		{topo: New(64, 64, 1, 1), mem: 64*MinNodeMemoryMB - 1, wantErr: "64 NUMA nodes: each node needs at least 64 MB"},
		{topo: New(1, 1<<62, 4, 1), mem: 2048, wantErr: "LLCs is 4611686018427387904: at most 512"},
	} {
		t.Run(fmt.Sprintf("%v/%d", tc.topo, tc.mem), func(t *testing.T) {
			err := tc.topo.ValidateMemory(tc.mem)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidateMemory(%d) = %v, want an error containing %q", tc.mem, err, tc.wantErr)
			}
		})
	}
}

func TestNumbering(t *testing.T) {
	topo := New(2, 4, 2, 2) // 16 CPUs, 4 per LLC, 8 per node
	if got := topo.CPUs(); got != 16 {
		t.Fatalf("CPUs = %d, want 16", got)
	}
	for _, tc := range []struct{ cpu, llc, core, node int }{
		{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 1, 0}, {3, 0, 1, 0},
		{4, 1, 0, 0}, {7, 1, 1, 0}, {8, 2, 0, 1}, {15, 3, 1, 1},
	} {
		if got := topo.LLCOf(tc.cpu); got != tc.llc {
			t.Errorf("LLCOf(%d) = %d, want %d", tc.cpu, got, tc.llc)
		}
		if got := topo.CoreOf(tc.cpu); got != tc.core {
			t.Errorf("CoreOf(%d) = %d, want %d", tc.cpu, got, tc.core)
		}
		if got := topo.NodeOf(tc.cpu); got != tc.node {
			t.Errorf("NodeOf(%d) = %d, want %d", tc.cpu, got, tc.node)
		}
		if got := topo.CPU(tc.llc, tc.core, tc.cpu%2); got != tc.cpu {
			t.Errorf("CPU(%d,%d,%d) = %d, want %d", tc.llc, tc.core, tc.cpu%2, got, tc.cpu)
		}
	}
	if diff := cmp.Diff([]int{8, 9, 10, 11, 12, 13, 14, 15}, topo.NodeCPUs(1)); diff != "" {
		t.Errorf("NodeCPUs(1) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 3}, topo.NodeLLCs(1)); diff != "" {
		t.Errorf("NodeLLCs(1) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{6, 7}, topo.Siblings(7)); diff != "" {
		t.Errorf("Siblings(7) (-want +got):\n%s", diff)
	}
}

func TestQEMUArgs(t *testing.T) {
	for _, tc := range []struct {
		topo    Topology
		memdevs []string
		want    string
		wantErr string
	}{
		{topo: New(1, 2, 4, 2), memdevs: []string{"m"}, want: "-smp 16,sockets=2,cores=4,threads=2"},
		{topo: New(2, 2, 2, 1), memdevs: []string{"mem0", "mem1"}, want: "-smp 4,sockets=2,cores=2,threads=1" +
			" -numa node,nodeid=0,cpus=0-1,memdev=mem0 -numa node,nodeid=1,cpus=2-3,memdev=mem1" +
			" -numa dist,src=0,dst=1,val=20 -numa dist,src=1,dst=0,val=20"},
		{topo: New(2, 2, 2, 1), memdevs: []string{"mem0"}, wantErr: "1 memory backends for 2 NUMA nodes"},
		{topo: New(2, 2, 2, 1), memdevs: []string{"mem0", ""}, wantErr: "NUMA node 1 has no memory backend"},
		{topo: New(2, 3, 1, 1), memdevs: []string{"a", "b"}, wantErr: "cannot be split evenly"},
		{topo: New(1, 1<<62, 2, 1), memdevs: []string{"a"}, wantErr: "LLCs is 4611686018427387904: at most 512"},
		{topo: New(math.MaxInt, math.MaxInt, 1, 1), wantErr: "NUMA nodes is 9223372036854775807: at most 64"},
	} {
		t.Run(tc.topo.String(), func(t *testing.T) {
			args, err := tc.topo.QEMUArgs(tc.memdevs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, strings.Join(args, " ")); diff != "" {
				t.Errorf("QEMUArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeMemoryMB(t *testing.T) {
	for _, tc := range []struct {
		topo    Topology
		mem     int
		want    []int
		wantErr string
	}{
		{topo: New(1, 2, 4, 2), mem: 2048, want: []int{2048}},
		{topo: New(2, 2, 2, 1), mem: 2049, want: []int{1024, 1025}},
		{topo: New(4, 4, 1, 1), mem: 4099, want: []int{1024, 1024, 1024, 1027}},
		{topo: New(2, 4, 1, 2), mem: 100, wantErr: "each node needs at least 64 MB"},
		{topo: New(1, 1, 1, 1), mem: MaxMemoryMB + 1, wantErr: "at most 1048576 MB"},
		{topo: New(2, 3, 1, 1), mem: 2048, wantErr: "cannot be split evenly"},
	} {
		got, err := tc.topo.NodeMemoryMB(tc.mem)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s NodeMemoryMB(%d) error = %v, want one containing %q", tc.topo, tc.mem, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s NodeMemoryMB(%d): %v", tc.topo, tc.mem, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s NodeMemoryMB(%d) (-want +got):\n%s", tc.topo, tc.mem, diff)
		}
	}
}

func TestLists(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		out  string
	}{
		{"", nil, ""},
		{"0\n", []int{0}, "0"},
		{"0-3,8,10-11", []int{0, 1, 2, 3, 8, 10, 11}, "0-3,8,10-11"},
		{"5,1-2,2", []int{1, 2, 5}, "1-2,5"},
	} {
		got, err := ParseList(tc.in)
		if err != nil {
			t.Fatalf("ParseList(%q): %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseList(%q) (-want +got):\n%s", tc.in, diff)
		}
		if s := FormatList(got); s != tc.out {
			t.Errorf("FormatList(%v) = %q, want %q", got, s, tc.out)
		}
	}
	for _, bad := range []string{"a", "3-1", "1-", "-1"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) succeeded, want error", bad)
		}
	}
}

// fakeSysfs writes the sysfs files Read looks at, as a kernel booted with
// topo would show them.
func fakeSysfs(t *testing.T, topo Topology) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("devices/system/cpu/online", fmt.Sprintf("0-%d", topo.CPUs()-1))
	for c := 0; c < topo.CPUs(); c++ {
		d := fmt.Sprintf("devices/system/cpu/cpu%d/", c)
		write(d+"topology/thread_siblings_list", FormatList(topo.Siblings(c)))
		write(d+"cache/index0/level", "1")
		write(d+"cache/index0/shared_cpu_list", FormatList(topo.Siblings(c)))
		write(d+"cache/index3/level", "3")
		write(d+"cache/index3/shared_cpu_list", FormatList(topo.LLCCPUs(topo.LLCOf(c))))
	}
	write("devices/system/node/online", fmt.Sprintf("0-%d", topo.NumaNodes-1))
	exp := topo.Expected()
	for n := 0; n < topo.NumaNodes; n++ {
		write(fmt.Sprintf("devices/system/node/node%d/cpulist", n), FormatList(topo.NodeCPUs(n)))
		write(fmt.Sprintf("devices/system/node/node%d/distance", n), strings.Trim(fmt.Sprint(exp.Distances[n]), "[]"))
	}
	return root
}

func TestReadMatchesExpected(t *testing.T) {
	for _, s := range []string{"1n1l2c1t", "1n2l2c1t", "1n2l2c2t", "2n2l2c1t", "2n4l1c2t"} {
		t.Run(s, func(t *testing.T) {
			topo, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Read(fakeSysfs(t, topo))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(topo.Expected(), got); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
			if d := topo.Expected().Diff(got); d != nil {
				t.Errorf("Diff = %v, want none", d)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	want := New(1, 2, 2, 1).Expected()
	got, err := Read(fakeSysfs(t, New(1, 1, 4, 1)))
	if err != nil {
		t.Fatal(err)
	}
	d := want.Diff(got)
	if len(d) != 1 || !strings.Contains(d[0], "LLC groups: want 2 [0-1] [2-3], guest has 1 [0-3]") {
		t.Fatalf("Diff = %q", d)
	}
}
