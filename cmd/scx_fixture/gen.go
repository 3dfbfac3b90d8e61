//go:build linux

package main

// Regenerate fixture_x86_bpfel.go and fixture_x86_bpfel.o from
// bpf/fixture.bpf.c. Needs clang-19, llvm-strip, bpftool, a vmlinux with BTF
// and a kernel source tree; see bpf/gen.sh.
//
//go:generate sh bpf/gen.sh
