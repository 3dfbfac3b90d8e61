#!/usr/bin/env bash
# Install what ktstr needs on Debian 12 and build (or reuse from the cache)
# the guest kernel and the sched_ext schedulers. Safe to run again: every
# step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

packages=(
	qemu-system-x86                                   # the VMM
	linux-source-6.12 build-essential flex bison bc   # the guest kernel
	libelf-dev libssl-dev dwarves xz-utils
	clang-19 llvm-19 zlib1g-dev libzstd-dev pkg-config # sched_ext schedulers
	busybox-static tmux                               # ktstr shell (tmux drives its test)
	chromium                                          # renders the HTML report in its test
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

go build -o bin/ktstr ./cmd/ktstr
./bin/ktstr kernel build
./bin/ktstr sched build
