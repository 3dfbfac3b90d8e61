package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// These run on the host; TestManager (cgroup_test.go) runs the manager on
// a real cgroup v2 hierarchy inside a VM.

func TestValidName(t *testing.T) {
	for _, ok := range []string{"cg_0", "a/b", "parent/child/grandchild", "a.b", "x-1"} {
		if err := validName(ok); err != nil {
			t.Errorf("validName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "/abs", "../up", "a/../../up", "a/..", "./a", "a/", "a//b", "a/.",
		"with space", "tab\there", "new\nline"} {
		if err := validName(bad); err == nil {
			t.Errorf("validName(%q) accepted it", bad)
		}
	}
}

func TestManagerRefusesBadNames(t *testing.T) {
	m := &Manager{root: filepath.Join(t.TempDir(), "root")}
	for _, bad := range []string{"", "..", "../x", "/x", "a/"} {
		for what, err := range map[string]error{
			"Create":  m.Create(bad),
			"Remove":  m.Remove(bad),
			"SetCPUs": m.SetCPUs(bad, []int{0}),
			"SetMems": m.SetMems(bad, []int{0}),
			"Move":    m.Move(bad, 1),
		} {
			if err == nil {
				t.Errorf("%s(%q) succeeded", what, bad)
			}
		}
		if bad == "" {
			continue // MoveAll's "" is the manager's root
		}
		if err := m.MoveAll(bad, "a"); err == nil {
			t.Errorf("MoveAll(%q, a) succeeded", bad)
		}
		if err := m.MoveAll("a", bad); err == nil {
			t.Errorf("MoveAll(a, %q) succeeded", bad)
		}
	}
	if _, err := os.Stat(m.root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused call touched the file system: %v", err)
	}
	if got := m.Path("a/b"); got != m.root+"/a/b" {
		t.Errorf("Path(a/b) = %q", got)
	}
}

func TestListData(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{{nil, "\n"}, {[]int{}, "\n"}, {[]int{3, 0, 1, 2}, "0-3"}, {[]int{1, 5}, "1,5"}} {
		if got := listData(tc.in); got != tc.want {
			t.Errorf("listData(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestHierarchyRoot(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "fs", "cgroup")
	dir := filepath.Join(mnt, "ktstr", "a")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{mnt, filepath.Join(mnt, "ktstr"), dir} {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{dir, filepath.Join(mnt, "ktstr"), mnt} {
		if got := hierarchyRoot(d); got != mnt {
			t.Errorf("hierarchyRoot(%s) = %s; want %s", d, got, mnt)
		}
	}
}

func TestRetry(t *testing.T) {
	n := 0
	err := retry(func() error {
		n++
		if n < 3 {
			return &os.PathError{Op: "write", Path: "x", Err: syscall.EBUSY}
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Errorf("retry of EBUSY, EBUSY, ok: %v after %d calls", err, n)
	}
	n = 0
	err = retry(func() error { n++; return syscall.EINVAL })
	if !errors.Is(err, syscall.EINVAL) || n != 1 {
		t.Errorf("retry of EINVAL: %v after %d calls; want EINVAL at once", err, n)
	}
}
