package cgroup_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/cgroup"
	"github.com/ktstr-go/ktstr/topology"
)

// helperEnv makes the test binary a helper process that blocks until its
// stdin closes: the guest has no sleep(1) to put in a cgroup.
const helperEnv = "KTSTR_CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "block" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	ktstr.Main(m)
}

// helper is a live process to move between cgroups.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startHelper() (*helper, error) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"=block")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &helper{cmd, in}, nil
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

// stop ends the helper (closing its stdin) and reaps it.
func (h *helper) stop() error {
	h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		h.cmd.Process.Kill()
		return fmt.Errorf("helper %d did not exit: %v", h.pid(), <-done)
	}
}

// alive reports whether the helper still runs (it has not been reaped, so
// signal 0 also succeeds for a zombie: check its state too).
func (h *helper) alive() bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.pid()))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(raw), ") ")
	return !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}

// cgroupOf is the cgroup v2 path of pid, as in /proc/pid/cgroup ("/a/b").
func cgroupOf(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "error: " + err.Error()
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return "none: " + string(raw)
}

// allowedCPUs is pid's CPU affinity, from /proc/pid/status.
func allowedCPUs(pid int) []int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			cpus, _ := topology.ParseList(v)
			return cpus
		}
	}
	return nil
}

func read(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(string(raw))
}

// childDirs lists the cgroups directly below dir.
func childDirs(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// checker collects failures, so that one run reports every mismatch.
type checker struct {
	ctx *ktstr.Ctx
	res ktstr.AssertResult
}

func (c *checker) failf(format string, args ...any) {
	c.ctx.Logf("FAIL: "+format, args...)
	c.res = c.res.Merge(ktstr.Fail(format, args...))
}

// ok fails on err and reports whether there was none.
func (c *checker) ok(what string, err error) bool {
	if err != nil {
		c.failf("%s: %v", what, err)
		return false
	}
	return true
}

func (c *checker) equal(what string, got, want []int) {
	if !slices.Equal(got, want) {
		c.failf("%s = %v; want %v", what, got, want)
	}
}

func (c *checker) procs(m *cgroup.Manager, name string, want ...int) {
	got, err := m.Procs(name)
	if c.ok("Procs("+name+")", err) {
		slices.Sort(got)
		slices.Sort(want)
		c.equal("Procs("+name+")", got, want)
	}
}

func (c *checker) effective(m *cgroup.Manager, name string, want ...int) {
	got, err := m.EffectiveCPUs(name)
	if c.ok("EffectiveCPUs("+name+")", err) {
		c.equal("EffectiveCPUs("+name+")", got, want)
	}
}

// TestManager exercises the manager on the guest's cgroup v2 hierarchy
// (the host's may be hybrid, without the cpuset controller on v2): create
// (nested too), cpusets (a parent's restricts its child's), moves of live
// processes, removal of cgroups with processes in them, cleanup, and names
// that must be refused.
func TestManager(t *testing.T) {
	ktstr.Run(t, ktstr.Test{Cores: 2, MemoryMB: 512}, func(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
		c := &checker{ctx: ctx, res: ktstr.Pass()}
		root := "/sys/fs/cgroup/ktstr-cgtest"
		m, err := cgroup.New(root)
		if err != nil {
			return ktstr.Fail("New(%s): %v", root, err), nil
		}
		defer os.Remove(root)
		if m.Root() != root {
			c.failf("Root() = %q; want %q", m.Root(), root)
		}
		if sc := read(root + "/cgroup.subtree_control"); !slices.Contains(strings.Fields(sc), "cpuset") || !slices.Contains(strings.Fields(sc), "cpu") {
			c.failf("%s/cgroup.subtree_control = %q; want cpuset and cpu", root, sc)
		}
		if _, err := cgroup.New(root); err != nil { // reusing it is fine
			c.failf("New(%s) again: %v", root, err)
		}

		// Names that are not a relative path below the root.
		for _, bad := range []string{"", "/abs", "..", "../escape", "a/../../escape", "with space", "tab\there",
			"new\nline", ".", "./a", "a/", "a//b", "a/."} {
			if err := m.Create(bad); err == nil {
				c.failf("Create(%q) succeeded; want an error", bad)
			}
		}
		if d := childDirs(root); len(d) > 0 {
			c.failf("bad names created %v", d)
		}
		for _, bad := range []string{"", "..", "../ktstr", "/sys/fs/cgroup/ktstr"} {
			if err := m.Remove(bad); err == nil {
				c.failf("Remove(%q) succeeded; want an error", bad)
			}
		}
		if _, err := os.Stat("/sys/fs/cgroup/ktstr"); err != nil || m.Root() != root {
			c.failf("a bad Remove removed something outside the root: %v", err)
		}

		// Create, nested.
		for _, n := range []string{"a", "a/b", "c"} {
			c.ok("Create("+n+")", m.Create(n))
		}
		if err := m.Create("a"); err == nil {
			c.failf("Create(a) twice succeeded")
		}
		if err := m.Create("missing/child"); err == nil {
			c.failf("Create(missing/child) succeeded without its parent")
		}
		if got := m.Created(); !slices.Equal(got, []string{"a", "a/b", "c"}) {
			c.failf("Created() = %v; want [a a/b c]", got)
		}
		if m.Path("a/b") != root+"/a/b" {
			c.failf("Path(a/b) = %q", m.Path("a/b"))
		}
		if sc := strings.Fields(read(m.Path("a") + "/cgroup.subtree_control")); !slices.Contains(sc, "cpuset") || !slices.Contains(sc, "cpu") {
			c.failf("a/cgroup.subtree_control = %v; want cpuset and cpu enabled for a/b", sc)
		}
		if _, err := os.Stat(m.Path("a/b") + "/cpuset.cpus"); err != nil {
			c.failf("a/b has no cpuset controller: %v", err)
		}

		// cpusets: the parent restricts the child.
		all := []int{0, 1}
		c.effective(m, "a/b", all...)
		c.ok("SetCPUs(a, 1)", m.SetCPUs("a", []int{1}))
		c.ok("SetCPUs(a/b, 0-1)", m.SetCPUs("a/b", all))
		if got := read(m.Path("a") + "/cpuset.cpus"); got != "1" {
			c.failf("a/cpuset.cpus = %q; want 1", got)
		}
		c.effective(m, "a", 1)
		c.effective(m, "a/b", 1)
		c.ok("SetCPUs(a, nil)", m.SetCPUs("a", nil))
		if got := read(m.Path("a") + "/cpuset.cpus"); got != "" {
			c.failf("a/cpuset.cpus = %q after clearing", got)
		}
		c.effective(m, "a", all...)
		c.effective(m, "a/b", all...)
		c.ok("SetCPUs(a/b, 0)", m.SetCPUs("a/b", []int{0}))
		c.effective(m, "a/b", 0)
		if err := m.SetCPUs("a", []int{7}); err == nil || !strings.Contains(err.Error(), "cpuset.cpus=7") {
			c.failf("SetCPUs(a, 7) on 2 CPUs: %v; want an error naming cpuset.cpus=7", err)
		}
		c.ok("SetMems(a, 0)", m.SetMems("a", []int{0}))
		if got := read(m.Path("a") + "/cpuset.mems"); got != "0" {
			c.failf("a/cpuset.mems = %q; want 0", got)
		}
		if got := read(m.Path("a/b") + "/cpuset.mems.effective"); got != "0" {
			c.failf("a/b/cpuset.mems.effective = %q; want 0", got)
		}
		c.ok("SetMems(a, nil)", m.SetMems("a", nil))
		if got := read(m.Path("a") + "/cpuset.mems"); got != "" {
			c.failf("a/cpuset.mems = %q after clearing", got)
		}
		if err := m.SetMems("a", []int{3}); err == nil {
			c.failf("SetMems(a, 3) on one node succeeded")
		}
		if _, err := m.EffectiveCPUs("nope"); err == nil {
			c.failf("EffectiveCPUs(nope) succeeded")
		}
		if err := m.SetCPUs("nope", all); err == nil {
			c.failf("SetCPUs(nope) succeeded")
		}

		// Moves of live processes.
		h1, err := startHelper()
		if err != nil {
			return c.res, fmt.Errorf("start a helper process: %w", err)
		}
		defer h1.stop()
		h2, err := startHelper()
		if err != nil {
			return c.res, fmt.Errorf("start a helper process: %w", err)
		}
		defer h2.stop()
		if c.ok("Move(a/b, helper 1)", m.Move("a/b", h1.pid())) {
			c.procs(m, "a/b", h1.pid())
			if got := cgroupOf(h1.pid()); got != "/ktstr-cgtest/a/b" {
				c.failf("helper 1 is in %q; want /ktstr-cgtest/a/b", got)
			}
			c.equal("helper 1's affinity in a/b (cpuset 0)", allowedCPUs(h1.pid()), []int{0})
		}
		c.ok("Move(c, helper 2)", m.Move("c", h2.pid()))
		c.ok("SetCPUs(c, 1)", m.SetCPUs("c", []int{1}))
		c.equal("helper 2's affinity in c (cpuset 1)", allowedCPUs(h2.pid()), []int{1})
		if err := m.Move("c", 1<<30); err == nil {
			c.failf("Move of a pid that does not exist succeeded")
		}
		c.ok("MoveAll(a/b, c)", m.MoveAll("a/b", "c"))
		c.procs(m, "a/b")
		c.procs(m, "c", h1.pid(), h2.pid())
		c.equal("helper 1's affinity after MoveAll to c", allowedCPUs(h1.pid()), []int{1})
		c.ok("MoveAll(c, a/b)", m.MoveAll("c", "a/b"))
		c.procs(m, "c")
		c.procs(m, "a/b", h1.pid(), h2.pid())
		c.ok("MoveAll(a/b, a/b)", m.MoveAll("a/b", "a/b"))
		c.procs(m, "a/b", h1.pid(), h2.pid())
		if err := m.MoveAll("nope", "c"); err == nil {
			c.failf("MoveAll(nope, c) succeeded")
		}
		c.ok("Move(c, helper 2)", m.Move("c", h2.pid()))

		// Clear the cpuset of a cgroup with a task (the kernel refuses to
		// empty it: it gets its parent's CPUs and nodes).
		c.effective(m, "c", 1)
		c.ok("SetCPUs(c, nil) with a task in c", m.SetCPUs("c", nil))
		c.effective(m, "c", all...)
		c.equal("helper 2's affinity after clearing c's cpuset", allowedCPUs(h2.pid()), all)
		c.ok("SetMems(c, 0)", m.SetMems("c", []int{0}))
		c.ok("SetMems(c, nil) with a task in c", m.SetMems("c", nil))
		if got := read(m.Path("c") + "/cpuset.mems.effective"); got != "0" {
			c.failf("c/cpuset.mems.effective = %q; want 0", got)
		}

		// Remove with live processes inside: they move out, the cgroups go.
		start := time.Now()
		c.ok("Remove(a) with a live process in a/b", m.Remove("a"))
		ctx.Logf("Remove(a) took %v", time.Since(start).Round(time.Millisecond))
		for _, n := range []string{"a", "a/b"} {
			if _, err := os.Stat(m.Path(n)); !errors.Is(err, os.ErrNotExist) {
				c.failf("%s still exists after Remove(a): %v", n, err)
			}
		}
		if !h1.alive() {
			c.failf("helper 1 died when its cgroup was removed")
		}
		if got := cgroupOf(h1.pid()); strings.HasPrefix(got, "/ktstr-cgtest/a") {
			c.failf("helper 1 is still in %q", got)
		} else {
			ctx.Logf("helper 1 was moved to %q", got)
		}
		if got := m.Created(); !slices.Equal(got, []string{"c"}) {
			c.failf("Created() after Remove(a) = %v; want [c]", got)
		}
		c.ok("Remove(a) again", m.Remove("a"))

		// Cleanup removes everything the manager made, processes or not.
		for _, n := range []string{"d", "d/e", "d/e/f"} {
			c.ok("Create("+n+")", m.Create(n))
		}
		c.ok("Move(d/e/f, helper 1)", m.Move("d/e/f", h1.pid()))
		c.ok("Cleanup", m.Cleanup())
		if d := childDirs(root); len(d) > 0 {
			c.failf("Cleanup left %v in %s", d, root)
		}
		if got := m.Created(); len(got) > 0 {
			c.failf("Created() after Cleanup = %v", got)
		}
		if !h1.alive() || !h2.alive() {
			c.failf("a helper died in Cleanup: %v %v", h1.alive(), h2.alive())
		}
		for i, h := range []*helper{h1, h2} {
			if got := cgroupOf(h.pid()); strings.HasPrefix(got, "/ktstr-cgtest/") {
				c.failf("helper %d is still in %q after Cleanup", i+1, got)
			}
		}
		c.ok("stop helper 1", h1.stop())
		c.ok("stop helper 2", h2.stop())
		c.ok("Cleanup again", m.Cleanup())
		if err := os.Remove(root); err != nil {
			c.failf("remove the root %s: %v (children %v)", root, err, childDirs(root))
		}
		if _, err := os.Stat(filepath.Join(root)); !errors.Is(err, os.ErrNotExist) {
			c.failf("root %s still exists", root)
		}
		return c.res, nil
	})
}
