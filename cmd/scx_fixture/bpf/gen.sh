#!/bin/sh
# Regenerate the scx_fixture BPF bindings (fixture_x86_bpfel.go/.o).
#
# Usage: bpf/gen.sh [VMLINUX]
#
#   VMLINUX  a kernel's vmlinux with BTF (default: the newest
#            $KTSTR_CACHE_DIR/kernels/*/vmlinux). vmlinux.h is generated from it.
#
# Environment:
#   KTSTR_CACHE_DIR  ktstr cache root (default $XDG_CACHE_HOME/ktstr, else
#                    $HOME/.cache/ktstr).
#   KSRC             kernel source tree providing tools/sched_ext/include and
#                    tools/lib/bpf (default: the newest
#                    $KTSTR_CACHE_DIR/src/linux-source-*/).
#   BPF_CLANG        clang to use (default /usr/lib/llvm-19/bin/clang, else
#                    clang-19 from PATH).
#   BPF_STRIP        llvm-strip to use (default next to BPF_CLANG).
#
# Generated headers (vmlinux.h, libbpf's bpf/*.h) go to bpf/.gen/, which is
# gitignored. Runs from anywhere; writes only into cmd/scx_fixture.
set -eu

bpfdir=$(cd "$(dirname "$0")" && pwd)
pkgdir=$(dirname "$bpfdir")
cache=${KTSTR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ktstr}

die() { echo "gen.sh: $*" >&2; exit 1; }

newest() { # newest existing path among the arguments
	ls -1dt "$@" 2>/dev/null | head -n 1
}

vmlinux=${1:-}
if [ -z "$vmlinux" ]; then
	vmlinux=$(newest "$cache"/kernels/*/vmlinux) ||:
	[ -n "$vmlinux" ] || die "no vmlinux given and none under $cache/kernels/*/vmlinux"
fi
[ -f "$vmlinux" ] || die "vmlinux $vmlinux: not a file"

ksrc=${KSRC:-}
if [ -z "$ksrc" ]; then
	for d in $(ls -1dt "$cache"/src/linux-source-*/ 2>/dev/null); do
		if [ -d "$d/tools/sched_ext/include/scx" ]; then ksrc=${d%/}; break; fi
	done
	[ -n "$ksrc" ] || die "no kernel source with tools/sched_ext under $cache/src; set KSRC"
fi
[ -f "$ksrc/tools/sched_ext/include/scx/common.bpf.h" ] || die "$ksrc: no tools/sched_ext/include/scx/common.bpf.h"
[ -f "$ksrc/tools/lib/bpf/bpf_helpers.h" ] || die "$ksrc: no tools/lib/bpf/bpf_helpers.h"

clang=${BPF_CLANG:-}
if [ -z "$clang" ]; then
	if [ -x /usr/lib/llvm-19/bin/clang ]; then clang=/usr/lib/llvm-19/bin/clang
	else clang=$(command -v clang-19) || die "clang-19 not found; set BPF_CLANG"; fi
fi
strip=${BPF_STRIP:-$(dirname "$clang")/llvm-strip}
[ -x "$strip" ] || strip=$(command -v llvm-strip-19) || die "llvm-strip not found; set BPF_STRIP"
command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || die "bpftool not found"
bpftool=$(command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)

gen=$bpfdir/.gen
rm -rf "$gen"
mkdir -p "$gen/bpf" "$gen/asm-generic"

echo "gen.sh: vmlinux.h from $vmlinux" >&2
"$bpftool" btf dump file "$vmlinux" format c > "$gen/vmlinux.h"

# libbpf's BPF-side headers from the same kernel tree. bpf_helper_defs.h is
# generated; fall back to the copy shipped with cilium/ebpf's examples.
for h in bpf_helpers.h bpf_tracing.h bpf_core_read.h bpf_endian.h; do
	cp "$ksrc/tools/lib/bpf/$h" "$gen/bpf/$h"
done
if ! python3 "$ksrc/scripts/bpf_doc.py" --header \
	--file "$ksrc/include/uapi/linux/bpf.h" > "$gen/bpf/bpf_helper_defs.h" 2>/dev/null; then
	ebpf=$(cd "$pkgdir" && go list -m -f '{{.Dir}}' github.com/cilium/ebpf)
	cp "$ebpf/examples/headers/bpf_helper_defs.h" "$gen/bpf/bpf_helper_defs.h"
fi
cp "$ksrc/include/uapi/asm-generic/errno.h" "$ksrc/include/uapi/asm-generic/errno-base.h" "$gen/asm-generic/"

cd "$pkgdir"
GOPACKAGE=main go run github.com/cilium/ebpf/cmd/bpf2go \
	-cc "$clang" -strip "$strip" \
	-target amd64 -tags linux -no-global-types -go-package main -output-stem fixture \
	fixture bpf/fixture.bpf.c -- \
	-mcpu=v3 -std=gnu11 -Wall -Wno-compare-distinct-pointer-types \
	-I"$gen" \
	-I"$ksrc/tools/sched_ext/include" \
	-I"$ksrc/tools/sched_ext/include/bpf-compat"
echo "gen.sh: wrote $pkgdir/fixture_x86_bpfel.go and fixture_x86_bpfel.o" >&2
