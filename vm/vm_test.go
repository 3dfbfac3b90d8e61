package vm

import (
	"context"
	"errors"
	"io"
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
		{name: "env kvm", env: "kvm", dev: "/nonexistent", cpuinfo: without, want: KVM, reason: "asked for kvm"},
		{name: "env tcg", env: "TCG", dev: kvm, cpuinfo: withVMX, want: TCG, reason: "asked for tcg"},
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

// TestArgsTwoWayPort: a port the host also writes to is a socket QEMU is
// given connected, at the same descriptor a one-way port would have.
func TestArgsTwoWayPort(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(io.Reader) error { return nil }
	write := func(context.Context, io.Writer) error { return nil }
	c := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: topology.New(1, 1, 1, 1), MemoryMB: 256, Accel: TCG,
		Ports: []Port{{Name: "out", Read: read}, {Name: "both", Read: read, Write: write}}}
	args, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, w := range []string{"-chardev file,id=port0,path=/dev/fd/4", "-chardev socket,id=port1,fd=5",
		"virtserialport,bus=vser.0,chardev=port1,name=both", "-chardev socket,id=qmp,fd=6"} {
		if !strings.Contains(joined, w) {
			t.Errorf("args lack %q:\n%s", w, joined)
		}
	}
}

func TestArgs(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(io.Reader) error { return nil }
	for _, tc := range []struct {
		accel Accel
		topo  topology.Topology
		want  []string // must appear in order, each as one argument pair
	}{
		{KVM, topology.New(1, 2, 4, 2), []string{"-M q35,memory-backend=mem0", "-accel kvm", "-cpu host", "-m 2048M",
			"-object memory-backend-file,id=mem0,size=2147483648,mem-path=/dev/fd/7,share=on", "-smp 16,sockets=2,cores=4,threads=2"}},
		{TCG, topology.New(2, 2, 1, 1), []string{"-M q35 ", "-accel tcg,thread=multi", "-cpu max", "-m 2048M",
			"-object memory-backend-file,id=mem0,size=1073741824,mem-path=/dev/fd/7,share=on",
			"-object memory-backend-file,id=mem1,size=1073741824,mem-path=/dev/fd/8,share=on",
			"-numa node,nodeid=0,cpus=0-0,memdev=mem0", "-numa node,nodeid=1,cpus=1-1,memdev=mem1", "-numa dist,src=0,dst=1,val=20"}},
	} {
		t.Run(string(tc.accel), func(t *testing.T) {
			c := Config{Kernel: kernel, Initrd: []string{"x"}, Topology: tc.topo, MemoryMB: 2048, Accel: tc.accel,
				Cmdline: []string{"extra=1"}, Ports: []Port{{Name: "a.b", Read: read}, {Name: "c", Read: read}}}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			args, err := c.Args()
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(args, " ")
			at := 0
			for _, w := range tc.want {
				i := strings.Index(joined[at:], w)
				if i < 0 {
					t.Errorf("args lack %q after offset %d:\n%s", w, at, joined)
					continue
				}
				at += i + len(w)
			}
			if strings.Contains(joined, "memory-backend-ram") {
				t.Errorf("args use anonymous RAM the host cannot read:\n%s", joined)
			}
			for _, w := range []string{"-kernel " + kernel, "-initrd /dev/fd/3", "-no-reboot",
				"-chardev stdio,id=con,signal=off -serial chardev:con",
				"-chardev socket,id=qmp,fd=6 -mon chardev=qmp,mode=control",
				"file,id=port0,path=/dev/fd/4", "virtserialport,bus=vser.0,chardev=port0,name=a.b",
				"file,id=port1,path=/dev/fd/5", "virtserialport,bus=vser.0,chardev=port1,name=c"} {
				if !strings.Contains(joined, w) {
					t.Errorf("args lack %q:\n%s", w, joined)
				}
			}
			i := indexOf(args, "-append")
			if i < 0 || !strings.HasPrefix(args[i+1], "console=ttyS0") || !strings.HasSuffix(args[i+1], " extra=1") || !strings.Contains(args[i+1], "panic=-1") {
				t.Errorf("kernel command line %q", args[i+1])
			}
			// The launcher knows nothing of the guest's init.
			if strings.Contains(args[i+1], "rdinit") {
				t.Errorf("kernel command line names the guest's init: %q", args[i+1])
			}
		})
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"accel", Config{Accel: "hvf"}, `accelerator "hvf"`},
		{"port name", Config{Ports: []Port{{Name: "a b", Read: read}}}, `port name "a b"`},
		{"port twice", Config{Ports: []Port{{Name: "p", Read: read}, {Name: "p", Read: read}}}, `port "p" given twice`},
		{"port without reader", Config{Ports: []Port{{Name: "p"}}}, `port "p" has no reader`},
		{"cmdline space", Config{Cmdline: []string{"a b"}}, `"a b"`},
		{"nil task", Config{Tasks: []func(context.Context, *VM) error{nil}}, "task 0 is nil"},
		{"memory", Config{MemoryMB: 32}, "each node needs at least 64 MB"},
		{"memory near 1 TiB", Config{MemoryMB: 1001473}, "at most 1001472 MB"},
	} {
		c := tc.c
		c.Kernel, c.Initrd, c.Topology = kernel, []string{"x"}, topology.New(1, 1, 1, 1)
		if c.MemoryMB == 0 {
			c.MemoryMB = 512
		}
		if c.Accel == "" {
			c.Accel = TCG
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error containing %q", tc.name, err, tc.want)
		}
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

// fakeQEMU writes a stand-in for qemu-system-x86_64: a shell script that
// runs body with the port pipes at descriptors 4, 5, ... and the console on
// stdout.
func fakeQEMU(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeConfig(t *testing.T, qemu string, ports ...Port) Config {
	t.Helper()
	kernel := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Config{QEMU: qemu, Kernel: kernel, InitrdData: [][]byte{[]byte("x")}, Topology: topology.New(1, 1, 1, 1),
		MemoryMB: 256, Accel: TCG, Timeout: 30 * time.Second, Ports: ports}
}

// What the guest wrote just before QEMU exited reaches a slow reader: the
// port's task reads to EOF and Wait waits for it. Before, Wait closed the
// pipe as soon as QEMU was reaped and a last frame still in it was lost.
func TestPortReadToEOF(t *testing.T) {
	for i := 0; i < 3; i++ {
		var got []byte
		cfg := fakeConfig(t, fakeQEMU(t, `printf 'first\n' >&4; sleep 0.1; printf 'done frame\n' >&4; exit 0`),
			Port{Name: "r", Read: func(r io.Reader) error {
				time.Sleep(500 * time.Millisecond) // a reader slower than QEMU's exit
				b, err := io.ReadAll(r)
				got = b
				return err
			}})
		v, err := Start(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Wait()
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Wait = %+v, %v", res, err)
		}
		if string(got) != "first\ndone frame\n" {
			t.Fatalf("run %d: the reader got %q, want both lines", i, got)
		}
	}
}

// A port task's error comes back from Wait; a task that stops early does
// not block QEMU (the rest of the stream is drained).
func TestPortTaskError(t *testing.T) {
	cfg := fakeConfig(t, fakeQEMU(t, `head -c 1000000 /dev/zero >&4; exit 0`),
		Port{Name: "r", Read: func(r io.Reader) error { return errors.New("gave up") }})
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Wait()
	if err == nil || !strings.Contains(err.Error(), "port r: gave up") {
		t.Fatalf("Wait error = %v, want the task's error", err)
	}
}

// A console line far longer than any buffer does not stop console reading:
// the kernel panic printed after it is kept.
func TestConsoleLongLine(t *testing.T) {
	cfg := fakeConfig(t, fakeQEMU(t, `head -c 3000000 /dev/zero | tr '\0' x; echo; echo 'Kernel panic - not syncing: boom'; exit 0`))
	var seen int
	cfg.Console = func(string) { seen++ }
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Console); n != 2 || res.Console[1] != "Kernel panic - not syncing: boom" || res.ConsoleDropped != 1 || seen != 2 {
		t.Fatalf("console: %d lines (last %q), %d cut, %d seen", n, res.Console[n-1], res.ConsoleDropped, seen)
	}
}

// The timeout kills QEMU and says so.
func TestTimeout(t *testing.T) {
	cfg := fakeConfig(t, fakeQEMU(t, `exec sleep 60`))
	cfg.Timeout = 300 * time.Millisecond
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Wait()
	if err != nil || !res.TimedOut || !strings.HasPrefix(res.Killed, "timeout after") {
		t.Fatalf("Wait = %+v, %v; want a timeout", res, err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"-m": "-m", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "console=ttyS0,115200": "console=ttyS0,115200"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// A task runs once QEMU started, its ctx is canceled when QEMU exits, and
// Wait returns only after it has returned; guest memory stays readable
// until then and is released after.
func TestTasks(t *testing.T) {
	cfg := fakeConfig(t, fakeQEMU(t, `sleep 0.2; exit 0`))
	var cause error
	var readErr error
	finished := false
	cfg.Tasks = []func(context.Context, *VM) error{
		func(ctx context.Context, v *VM) error {
			<-ctx.Done()
			cause = context.Cause(ctx)
			time.Sleep(300 * time.Millisecond) // a task slower than QEMU's exit
			_, readErr = v.Memory().ReadAt(make([]byte, 8), 0x1000)
			finished = true
			return nil
		},
		func(ctx context.Context, v *VM) error { return errors.New("gave up") },
		func(ctx context.Context, v *VM) error { panic("boom") },
	}
	fds := openFDs(t)
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ownMaps(t), "ktstr-ram-node0") {
		t.Error("guest memory is not mapped in the host")
	}
	res, err := v.Wait()
	if n := openFDs(t); n != fds {
		t.Errorf("%d descriptors open after Wait, %d before Start", n, fds)
	}
	if strings.Contains(ownMaps(t), "ktstr-ram") {
		t.Errorf("guest memory still mapped after Wait:\n%s", ownMaps(t))
	}
	if !finished || !errors.Is(cause, errExited) || readErr != nil {
		t.Errorf("Wait returned with the task finished=%v, cause %v, memory read error %v", finished, cause, readErr)
	}
	if err == nil || !strings.Contains(err.Error(), "task 1: gave up") || !strings.Contains(err.Error(), "task 2: panic: boom") {
		t.Errorf("Wait error = %v, want both tasks' errors", err)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code %d", res.ExitCode)
	}
	if _, err := v.Memory().ReadAt(make([]byte, 8), 0x1000); !errors.Is(err, ErrMemoryReleased) {
		t.Errorf("ReadAt after Wait: %v", err)
	}
	if _, err := v.VCPUs(t.Context()); err == nil {
		t.Error("VCPUs after Wait succeeded")
	}
	if err := v.SysRq('h'); err == nil {
		t.Error("SysRq after Wait succeeded")
	}
}

// Killing the VM cancels its tasks' ctx with the reason.
func TestTaskKilled(t *testing.T) {
	cfg := fakeConfig(t, fakeQEMU(t, `exec sleep 60`))
	started := make(chan struct{})
	cfg.Tasks = []func(context.Context, *VM) error{func(ctx context.Context, v *VM) error {
		close(started)
		<-ctx.Done()
		return context.Cause(ctx)
	}}
	v, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	v.Kill("enough")
	res, err := v.Wait()
	if err == nil || !strings.Contains(err.Error(), "task 0: VM killed: enough") || res.Killed != "enough" {
		t.Errorf("Wait = %+v, %v", res, err)
	}
}

func TestThreadCPUTime(t *testing.T) {
	p := filepath.Join(t.TempDir(), "schedstat")
	os.WriteFile(p, []byte("123456789 5000 42\n"), 0o644)
	if d, err := threadCPUTime(p); err != nil || d != 123456789 {
		t.Errorf("threadCPUTime = %v, %v", d, err)
	}
	os.WriteFile(p, []byte("x 1 2\n"), 0o644)
	if _, err := threadCPUTime(p); err == nil {
		t.Error("bad schedstat accepted")
	}
	if _, err := threadCPUTime(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing schedstat accepted")
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	// The runtime's poller keeps descriptors of its own once started.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func ownMaps(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
