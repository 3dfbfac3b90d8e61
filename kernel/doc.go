// Package kernel builds, caches and locates the guest kernels that ktstr
// boots in QEMU to test sched_ext schedulers.
//
// # Building
//
// [Build] turns a Linux source tree into a sched_ext-capable kernel: it runs
// defconfig, kvm_guest.config, merges the embedded fragment ktstr.config (see
// [Fragment]), runs olddefconfig, checks with [CheckConfig] that every option
// of the fragment survived, and builds bzImage out of tree. The default source
// is Debian's linux-source-6.12 package (/usr/src/linux-source-6.12.tar.xz).
//
// # Patches
//
// ktstr applies its own kernel patches, embedded from kernel/patches/*.patch,
// in file name order (patch -p1 after a dry run) to the tree it extracts from
// Debian's tarball; that tree is ktstr's own and is always exactly the
// tarball plus the current patches: when the patch set changes, the files
// the old patches changed come back from the tarball (with a new mtime, so
// the incremental build recompiles what uses them) before the new ones are
// applied. There are two:
//
//   - 0001-sched_ext-watchdog-override.patch adds the kernel parameter
//     sched_ext.watchdog_override_ms (writable at run time in
//     /sys/module/sched_ext/parameters/watchdog_override_ms). When not zero
//     it replaces ops.timeout_ms as the sched_ext watchdog timeout of the
//     schedulers enabled from then on, at enable, where 6.12 also stamps the
//     watchdog and queues its first check, and the kernel logs "sched_ext:
//     watchdog timeout <N>ms (ktstr override; ops.timeout_ms=<M>)". With it a
//     test's WatchdogTimeoutS means what it says from the moment the
//     scheduler attaches: a runnable task that does not run for that long
//     gets the scheduler ejected.
//   - 0002-x86-int3-stale-under-emulation.patch (see [StaleInt3Patch]) makes
//     the kernel resume, rather than die, on an INT3 its live patching has
//     already replaced, which an emulated CPU (QEMU's TCG) can still
//     execute; it logs "ktstr: resumed at <fn> after a stale INT3" the first
//     time. Without it, attaching or detaching probes on code another vCPU
//     runs can oops a TCG guest ("Oops: int3").
//
// A user's tree (BuildOptions.Source) is never modified: when its
// kernel/sched/ext.c lacks watchdog_override_ms, [Build] builds it as it is,
// says so in one line of its progress output and records it in meta.json
// (watchdog_override: false; see Image.WatchdogOverride).
//
// The patches are part of the recipe: they go into the cache key, and an
// entry records the recipe's patch set.
//
// # Cache layout
//
// Everything lives under the ktstr cache root (see package
// github.com/ktstr-go/ktstr/internal/cachedir):
//
//	<root>/src/<dir>/                 extracted source tarball (e.g. linux-source-6.12), patched
//	<root>/src/<dir>.ktstr-extracted  marker: extraction of that tarball completed, the
//	                                  patches applied (name and sha256) and the files
//	                                  they changed
//	<root>/src/<tarball>.sha256       the tarball's digest, keyed by its size and mtime
//	<root>/build/<source-id>/         out-of-tree build directory (make O=...), with
//	                                  ktstr-build.log (full output of the last build),
//	                                  ktstr-build-stats.json (last full build, for estimates)
//	                                  and ktstr-source (the tarball it was built from)
//	<root>/build/<source-id>.lock     held while a build uses that directory
//	<root>/kernels/<key>/             one finished kernel: bzImage, vmlinux, config, meta.json
//
// <source-id> is the tarball's name without .tar.xz (linux-source-6.12) for
// Debian's source, and the tree's base name plus a hash of its path for a
// source tree given with BuildOptions.Source.
//
// <key> is the first 16 hex digits of a sha256 over the build recipe
// version, the fragment, the patches, the identity of the source and the
// compiler version, so a cached kernel is reused only when all of them are
// unchanged. Cache entries are written to a temporary directory and renamed
// into place, meta.json included (internal/hostbuild.StoreDir): an entry
// directory is always complete. Anything in the cache may be deleted.
//
// meta.json records, besides the release, source, compiler and build
// figures: the recipe (recipe, fragment_sha256, recipe_patches_sha256), the
// patches applied to the source (patches: name and sha256 of each),
// watchdog_override, and the size and sha256 of bzImage, vmlinux and config
// (files).
//
// # Current, stale and corrupt entries
//
// An entry is current when it was built by this ktstr's recipe (recipe
// version, fragment and patch set, as meta.json records them) and its files
// are intact; otherwise it is stale (older recipe, other fragment, other
// patches; entries written before files were recorded are of recipe 1, so
// stale) or corrupt. Before an entry is used ([Resolve], [List]'s verdict,
// [Build]'s cache lookup) its files are checked against meta.json: every
// file's size, the sha256 of bzImage and config, and only the ELF header of
// vmlinux (about 200 MB: hashing it on every use would cost seconds), and
// bzImage must look like a kernel. Without KTSTR_KERNEL, [Resolve] returns
// the newest current entry (passing over corrupt ones, listed in
// Image.Skipped) and otherwise fails with [ErrNoKernel], naming the stale
// and corrupt entries and the command that builds a current one. [Build]
// rebuilds a corrupt entry of its key without --force.
//
// # Environment
//
//   - KTSTR_KERNEL: the kernel [Resolve] returns. A kernel image file
//     (bzImage or vmlinux), a cache entry directory, a kernel build
//     directory (containing arch/x86/boot/bzImage), or a cache key or a
//     unique prefix of one. A cache entry named so is used even when stale
//     (Image.Stale says why), never when corrupt.
//   - KTSTR_CACHE_DIR: the cache root. Default $XDG_CACHE_HOME/ktstr, else
//     $HOME/.cache/ktstr.
//   - XDG_CACHE_HOME: see KTSTR_CACHE_DIR.
package kernel
