#!/bin/sh
# Regenerate the auto-repro probe bindings (probe_x86_bpfel.go/.o) from
# bpf/probe.bpf.c, with vmlinux.h from a kernel's BTF and libbpf's BPF-side
# headers from a kernel tree, as cmd/scx_fixture/bpf/gen.sh does (see it for
# the environment: KTSTR_CACHE_DIR, KSRC, BPF_CLANG, BPF_STRIP; bpftool on
# PATH or in /usr/sbin).
#
# Usage: bpf/gen.sh [VMLINUX]
set -eu

bpfdir=$(cd "$(dirname "$0")" && pwd)
pkgdir=$(dirname "$bpfdir")
cache=${KTSTR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ktstr}
die() { echo "gen.sh: $*" >&2; exit 1; }

vmlinux=${1:-$(ls -1t "$cache"/kernels/*/vmlinux 2>/dev/null | head -n 1)}
[ -f "$vmlinux" ] || die "no vmlinux (give one, or build a kernel)"
ksrc=${KSRC:-$(ls -1dt "$cache"/src/linux-source-*/ 2>/dev/null | head -n 1)}
ksrc=${ksrc%/}
[ -f "$ksrc/tools/lib/bpf/bpf_helpers.h" ] || die "$ksrc: no tools/lib/bpf; set KSRC"
clang=${BPF_CLANG:-/usr/lib/llvm-19/bin/clang}
strip=${BPF_STRIP:-$(dirname "$clang")/llvm-strip}
bpftool=$(command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
[ -x "$bpftool" ] || die "bpftool not found"

gen=$bpfdir/.gen
rm -rf "$gen"
mkdir -p "$gen/bpf"
"$bpftool" btf dump file "$vmlinux" format c > "$gen/vmlinux.h"
for h in bpf_helpers.h bpf_tracing.h bpf_core_read.h bpf_endian.h; do
	cp "$ksrc/tools/lib/bpf/$h" "$gen/bpf/$h"
done
python3 "$ksrc/scripts/bpf_doc.py" --header --file "$ksrc/include/uapi/linux/bpf.h" > "$gen/bpf/bpf_helper_defs.h"

cd "$pkgdir"
GOPACKAGE=probe go run github.com/cilium/ebpf/cmd/bpf2go \
	-cc "$clang" -strip "$strip" -target amd64 -tags linux -go-package probe -output-stem probe \
	-type event probe bpf/probe.bpf.c -- \
	-mcpu=v3 -std=gnu11 -Wall -D__TARGET_ARCH_x86 -I"$gen"
echo "gen.sh: wrote $pkgdir/probe_x86_bpfel.go and probe_x86_bpfel.o" >&2
