package ksym

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// The go command is an ELF with function symbols, like vmlinux; Lookup
// must agree with debug/elf read directly.
func TestLookup(t *testing.T) {
	bin := filepath.Join(runtime.GOROOT(), "bin", "go")
	f, err := elf.Open(bin)
	if err != nil {
		t.Skipf("no go binary to read symbols from: %v", err)
	}
	syms, err := f.Symbols()
	f.Close()
	if err != nil {
		t.Skipf("%s has no symbols: %v", bin, err)
	}
	tab, err := Load(bin)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Load(bin); again != tab {
		t.Error("a second Load read the file again")
	}
	checked := 0
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || s.Size < 8 || checked == 200 {
			continue
		}
		checked++
		if got := tab.Lookup(s.Value); got != s.Name && !tab.alias(s.Value, s.Name) {
			t.Errorf("Lookup(%#x) = %q, want %q", s.Value, got, s.Name)
		}
		if got, want := tab.Lookup(s.Value+4), fmt.Sprintf("%s+0x4", tab.Lookup(s.Value)); got != want {
			t.Errorf("Lookup(%#x+4) = %q, want %q", s.Value, got, want)
		}
		if !tab.Has(s.Name) {
			t.Errorf("Has(%q) = false", s.Name)
		}
		if local := elf.ST_BIND(s.Info) == elf.STB_LOCAL; tab.Local(s.Name) != local && !local {
			t.Errorf("Local(%q) = %v, want %v", s.Name, !local, local)
		}
	}
	if checked == 0 {
		t.Fatal("no function symbols checked")
	}
	if got := tab.Lookup(1); got != "" {
		t.Errorf("Lookup(1) = %q, want none", got)
	}
	if tab.Has("no_such_function_anywhere") {
		t.Error("Has(no_such_function_anywhere) = true")
	}
	if _, err := Load("/nonexistent/vmlinux"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// alias reports whether name is one of several symbols at addr.
func (t *Table) alias(addr uint64, name string) bool {
	for i, a := range t.addrs {
		if a == addr && t.names[i] == name {
			return true
		}
	}
	return false
}
