package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

func TestChooseAccel(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kvm := write("kvm", "")
	withVMX := write("cpuinfo-vmx", "processor\t: 0\nflags\t\t: fpu vme vmx sse\n")
	withSVM := write("cpuinfo-svm", "flags\t\t: fpu svm\n")
	without := write("cpuinfo-none", "flags\t\t: fpu vme sse hypervisor\n")
	for _, tc := range []struct {
		name, env, dev, cpuinfo string
		want                    Accel
		reason                  string
		wantErr                 bool
	}{
		{name: "env kvm", env: "kvm", dev: "/nonexistent", cpuinfo: without, want: KVM, reason: "KTSTR_ACCEL=kvm"},
		{name: "env tcg", env: "TCG", dev: kvm, cpuinfo: withVMX, want: TCG, reason: "KTSTR_ACCEL=tcg"},
		{name: "env bad", env: "hvf", wantErr: true},
		{name: "vmx", dev: kvm, cpuinfo: withVMX, want: KVM, reason: "hardware virtualization"},
		{name: "svm", dev: kvm, cpuinfo: withSVM, want: KVM, reason: "hardware virtualization"},
		{name: "no flag", dev: kvm, cpuinfo: without, want: TCG, reason: "no vmx/svm flag"},
		{name: "no device", dev: filepath.Join(dir, "missing"), cpuinfo: withVMX, want: TCG, reason: "unusable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chooseAccel(tc.env, tc.dev, tc.cpuinfo)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Accel != tc.want || !strings.Contains(c.Reason, tc.reason) {
				t.Errorf("got %v, want %s with a reason containing %q", c, tc.want, tc.reason)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		accel Accel
		topo  topology.Topology
		want  []string // must appear in order, each as one argument pair
	}{
		{KVM, topology.New(1, 2, 4, 2), []string{"-accel kvm", "-cpu host", "-smp 16,sockets=2,cores=4,threads=2", "-m 2048M"}},
		{TCG, topology.New(2, 2, 1, 1), []string{"-accel tcg,thread=multi", "-cpu max", "-numa node,nodeid=1,cpus=1-1,memdev=mem1", "-numa dist,src=0,dst=1,val=20"}},
	} {
		t.Run(string(tc.accel), func(t *testing.T) {
			c := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: tc.topo, MemoryMB: 2048, Accel: tc.accel, Append: []string{"extra=1"}}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			args, err := c.Args()
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(args, " ")
			for _, w := range append(tc.want, "-kernel "+kernel, "-initrd /dev/fd/3", "-no-reboot",
				"file,id=results,path=/dev/fd/4", "virtserialport,bus=vser.0,chardev=results,name="+ResultsPort) {
				if !strings.Contains(joined, w) {
					t.Errorf("args lack %q:\n%s", w, joined)
				}
			}
			i := indexOf(args, "-append")
			if i < 0 || !strings.HasPrefix(args[i+1], "console=ttyS0") || !strings.HasSuffix(args[i+1], " extra=1") || !strings.Contains(args[i+1], "panic=-1") {
				t.Errorf("kernel command line %q", args[i+1])
			}
		})
	}
	bad := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: topology.New(1, 1, 1, 1), MemoryMB: 512, Accel: "hvf"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `accelerator "hvf"`) {
		t.Errorf("Validate = %v, want an accelerator error", err)
	}
	if err := (&Config{Kernel: "/nonexistent", Initrd: []string{"x"}, Accel: TCG}).Validate(); err == nil {
		t.Error("missing kernel accepted")
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		accel        Accel
		vcpus, host  int
		slowdown     float64
		work, atMost time.Duration
	}{
		{KVM, 16, 16, 1, 2 * time.Second, 40 * time.Second},
		{TCG, 2, 2, 4, 2 * time.Second, 60 * time.Second},
		{TCG, 8, 2, 16, 2 * time.Second, 2 * time.Minute},
	} {
		b := newBudget(tc.accel, tc.vcpus, tc.host)
		if b.Slowdown != tc.slowdown {
			t.Errorf("%s %d/%d: slowdown %v, want %v", tc.accel, tc.vcpus, tc.host, b.Slowdown, tc.slowdown)
		}
		if h := b.Host(tc.work); h > tc.atMost || h < b.Boot+tc.work {
			t.Errorf("%s %d/%d: host limit %s outside [%s, %s]", tc.accel, tc.vcpus, tc.host, h, b.Boot+tc.work, tc.atMost)
		}
	}
	if a, b := newBudget(TCG, 4, 2), newBudget(TCG, 16, 2); a.Host(time.Second) >= b.Host(time.Second) {
		t.Error("more vCPUs per host CPU must get a larger budget")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"-m": "-m", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "console=ttyS0,115200": "console=ttyS0,115200"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAcquireSlot(t *testing.T) {
	dir := t.TempDir()
	r1, err := AcquireSlot(t.Context(), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := AcquireSlot(t.Context(), dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := AcquireSlot(ctx, dir, 2); err == nil {
		t.Fatal("a third slot of two was granted")
	}
	r1()
	r3, err := AcquireSlot(t.Context(), dir, 2)
	if err != nil {
		t.Fatalf("a freed slot was not reused: %v", err)
	}
	r2()
	r3()
}
