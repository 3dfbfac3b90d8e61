// Package ksym symbolizes guest kernel addresses with the function symbols
// of the kernel's vmlinux, read with debug/elf once per file per process.
package ksym

import (
	"debug/elf"
	"fmt"
	"os"
	"sort"
	"sync"
)

// Table is a kernel's function symbols, sorted by address.
type Table struct {
	addrs  []uint64
	names  []string
	sizes  []uint64
	byName map[string]bool
	local  map[string]bool
}

var tables sync.Map // path+size+mtime -> *entry

type entry struct {
	once sync.Once
	t    *Table
	err  error
}

// Load reads the function symbols of vmlinux.
func Load(vmlinux string) (*Table, error) {
	st, err := os.Stat(vmlinux)
	if err != nil {
		return nil, fmt.Errorf("ksym: %w", err)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", vmlinux, st.Size(), st.ModTime().UnixNano())
	v, _ := tables.LoadOrStore(key, &entry{})
	e := v.(*entry)
	e.once.Do(func() { e.t, e.err = load(vmlinux) })
	return e.t, e.err
}

func load(path string) (*Table, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ksym: %w", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("ksym: %s: %w", path, err)
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].Value < syms[j].Value })
	t := &Table{byName: map[string]bool{}, local: map[string]bool{}}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 {
			continue
		}
		t.addrs = append(t.addrs, s.Value)
		t.names = append(t.names, s.Name)
		t.sizes = append(t.sizes, s.Size)
		t.byName[s.Name] = true
		if elf.ST_BIND(s.Info) == elf.STB_LOCAL {
			t.local[s.Name] = true
		}
	}
	return t, nil
}

// Lookup returns "name+0xoff" for addr, or "" when no function holds it.
func (t *Table) Lookup(addr uint64) string {
	i := sort.Search(len(t.addrs), func(i int) bool { return t.addrs[i] > addr }) - 1
	if i < 0 || (t.sizes[i] > 0 && addr >= t.addrs[i]+t.sizes[i]) {
		return ""
	}
	if off := addr - t.addrs[i]; off > 0 {
		return fmt.Sprintf("%s+%#x", t.names[i], off)
	}
	return t.names[i]
}

// Has reports whether the kernel has a function named name.
func (t *Table) Has(name string) bool { return t.byName[name] }

// Local reports whether the kernel's function name is local to its file (a
// static function in C), so only code of that file calls it.
func (t *Table) Local(name string) bool { return t.local[name] }
