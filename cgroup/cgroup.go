// Package cgroup manages the cgroup v2 hierarchy a test runs in: it
// creates cgroups under one root, sets cpuset.cpus and cpuset.mems, moves
// tasks, and removes everything it made. Writes that the kernel refuses for
// a moment (EBUSY, EAGAIN, EINTR: a cgroup still emptying, a task exiting)
// are retried. All paths are relative to a root passed in, so tests run it
// on any cgroup v2 mount.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ktstr-go/ktstr/topology"
)

// Manager owns a subtree of a cgroup v2 hierarchy.
type Manager struct {
	root string // absolute path of the subtree's top cgroup
	mu   sync.Mutex
	made []string // cgroups created, in creation order (relative names)
}

// New creates (or reuses) the cgroup at dir and enables the cpuset and cpu
// controllers for its children. dir's parent must already delegate them.
func New(dir string) (*Manager, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if err := retryWrite(filepath.Join(dir, "cgroup.subtree_control"), "+cpuset +cpu"); err != nil {
		return nil, fmt.Errorf("cgroup %s: enable controllers: %w", dir, err)
	}
	return &Manager{root: dir}, nil
}

// Root is the path of the manager's top cgroup.
func (m *Manager) Root() string { return m.root }

// Path returns the directory of the cgroup called name ("a" or "a/b").
func (m *Manager) Path(name string) string { return filepath.Join(m.root, filepath.FromSlash(name)) }

// Create makes the cgroup name (its parents must exist; "a/b" needs "a").
// A cgroup with children gets the cpuset and cpu controllers enabled for
// them.
func (m *Manager) Create(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	dir := m.Path(name)
	if parent := filepath.Dir(dir); parent != m.root {
		if err := retryWrite(filepath.Join(parent, "cgroup.subtree_control"), "+cpuset +cpu"); err != nil {
			return fmt.Errorf("cgroup %s: enable controllers in parent: %w", name, err)
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("cgroup %s: %w", name, err)
	}
	m.mu.Lock()
	m.made = append(m.made, name)
	m.mu.Unlock()
	return nil
}

// validName accepts a cgroup below the root, in clean form: not "", ".",
// "a/", "./a" or "a//b", which would name the root itself or be recorded
// under a name that differs from the cgroup's.
func validName(name string) error {
	if name == "" || name == "." || path.Clean(name) != name || strings.HasPrefix(name, "/") ||
		strings.Contains(name, "..") || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("cgroup name %q: want a relative path such as cg_0 or parent/child", name)
	}
	return nil
}

// SetCPUs writes cpuset.cpus; an empty list clears it (the cgroup then
// inherits its parent's CPUs). The kernel refuses to clear the cpuset of a
// cgroup with tasks: such a cgroup gets its parent's effective CPUs of the
// moment instead.
func (m *Manager) SetCPUs(name string, cpus []int) error {
	return m.setList(name, "cpuset.cpus", cpus)
}

// SetMems writes cpuset.mems; an empty list clears it (for a cgroup with
// tasks: sets it to its parent's effective nodes, as SetCPUs does).
func (m *Manager) SetMems(name string, nodes []int) error {
	return m.setList(name, "cpuset.mems", nodes)
}

func (m *Manager) setList(name, file string, list []int) error {
	if err := validName(name); err != nil {
		return err
	}
	p := filepath.Join(m.Path(name), file)
	err := retryWrite(p, listData(list))
	if len(list) == 0 && errors.Is(err, syscall.ENOSPC) { // a cgroup with tasks
		var raw []byte
		raw, err = os.ReadFile(filepath.Join(filepath.Dir(m.Path(name)), file+".effective"))
		if err == nil {
			err = retryWrite(p, strings.TrimSpace(string(raw)))
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: %s=%s: %w", name, file, topology.FormatList(list), err)
	}
	return nil
}

// listData is what to write to a cpuset list file for list: the kernel
// ignores a write of zero bytes, so an empty list is written as a newline.
func listData(list []int) string {
	if len(list) == 0 {
		return "\n"
	}
	return topology.FormatList(list)
}

// EffectiveCPUs reads cpuset.cpus.effective: the CPUs the cgroup's tasks
// may run on.
func (m *Manager) EffectiveCPUs(name string) ([]int, error) {
	raw, err := os.ReadFile(filepath.Join(m.Path(name), "cpuset.cpus.effective"))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	return topology.ParseList(string(raw))
}

// Move moves the task pid into the cgroup name.
func (m *Manager) Move(name string, pid int) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := Join(m.Path(name), pid); err != nil {
		return fmt.Errorf("cgroup %s: %w", name, err)
	}
	return nil
}

// Join moves process pid into the cgroup v2 directory dir, retrying while
// the kernel answers EBUSY, EAGAIN or EINTR (as it does while the cgroup's
// cpuset changes) for up to 5 seconds. It is the one way ktstr moves a
// process into a cgroup: the Manager and workload's spawning both use it.
func Join(dir string, pid int) error {
	if err := retryWrite(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("move pid %d into %s: %w", pid, dir, err)
	}
	return nil
}

// Procs lists the processes in the cgroup name.
func (m *Manager) Procs(name string) ([]int, error) {
	raw, err := os.ReadFile(filepath.Join(m.Path(name), "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// MoveAll moves every process of cgroup from into cgroup to. An empty name
// is the manager's root.
func (m *Manager) MoveAll(from, to string) error {
	for _, n := range []string{from, to} {
		if err := validName(n); n != "" && err != nil {
			return err
		}
	}
	dir := m.root
	if from != "" {
		dir = m.Path(from)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", from, err)
	}
	target := m.root
	if to != "" {
		target = m.Path(to)
	}
	for _, f := range strings.Fields(string(raw)) {
		err := retryWrite(filepath.Join(target, "cgroup.procs"), f)
		if err != nil && !errors.Is(err, syscall.ESRCH) { // a task that exited meanwhile is fine
			return fmt.Errorf("cgroup %s: move pid %s to %s: %w", from, f, to, err)
		}
	}
	return nil
}

// Remove removes the cgroup name and its descendants, moving any process
// still in them to the root of the cgroup hierarchy first (not to the
// manager's root: with controllers enabled for its children, the kernel
// refuses processes there).
func (m *Manager) Remove(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	dir := m.Path(name)
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", name, err)
	}
	slices.Reverse(dirs) // children first
	for _, d := range dirs {
		if err := m.drain(d); err != nil {
			return err
		}
		if err := retry(func() error { return os.Remove(d) }); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cgroup %s: remove %s: %w", name, d, err)
		}
	}
	m.mu.Lock()
	m.made = slices.DeleteFunc(m.made, func(n string) bool { return n == name || strings.HasPrefix(n, name+"/") })
	m.mu.Unlock()
	return nil
}

// drain moves the processes of dir to the hierarchy's root.
func (m *Manager) drain(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	top := hierarchyRoot(m.root)
	for _, f := range strings.Fields(string(raw)) {
		if err := retryWrite(filepath.Join(top, "cgroup.procs"), f); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("cgroup: move pid %s out of %s: %w", f, dir, err)
		}
	}
	return nil
}

// hierarchyRoot returns the top cgroup of the hierarchy dir is in (where
// the cgroup file system is mounted): the last directory up from dir that
// has a cgroup.procs file. Only the root cgroup takes processes whatever
// its controllers.
func hierarchyRoot(dir string) string {
	for {
		up := filepath.Dir(dir)
		if up == dir {
			return dir
		}
		if _, err := os.Stat(filepath.Join(up, "cgroup.procs")); err != nil {
			return dir
		}
		dir = up
	}
}

// Cleanup removes every cgroup the manager created, newest first.
func (m *Manager) Cleanup() error {
	m.mu.Lock()
	made := slices.Clone(m.made)
	m.mu.Unlock()
	var errs []error
	for i := len(made) - 1; i >= 0; i-- {
		if _, err := os.Stat(m.Path(made[i])); err != nil {
			continue
		}
		if err := m.Remove(made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Created lists the cgroups the manager created that still exist.
func (m *Manager) Created() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.made)
}

// retryWrite writes data to a cgroup control file, retrying for a while
// on errors the kernel gives for a transient state.
func retryWrite(path, data string) error {
	return retry(func() error { return os.WriteFile(path, []byte(data), 0) })
}

func retry(f func() error) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil || !(errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR)) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
