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
// # Cache layout
//
// Everything lives under the ktstr cache root (see package
// github.com/ktstr-go/ktstr/internal/cachedir):
//
//	<root>/src/<dir>/                 extracted source tarball (e.g. linux-source-6.12)
//	<root>/src/<dir>.ktstr-extracted  marker: extraction of that tarball completed
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
// version, the fragment, the identity of the source and the compiler version,
// so a cached kernel is reused only when all of them are unchanged. Cache
// entries are written to a temporary directory and renamed into place: an
// entry directory is always complete. Anything in the cache may be deleted.
//
// # Environment
//
//   - KTSTR_KERNEL: the kernel [Resolve] returns. A kernel image file
//     (bzImage or vmlinux), a cache entry directory, a kernel build
//     directory (containing arch/x86/boot/bzImage), or a cache key or a
//     unique prefix of one.
//   - KTSTR_CACHE_DIR: the cache root. Default $XDG_CACHE_HOME/ktstr, else
//     $HOME/.cache/ktstr.
//   - XDG_CACHE_HOME: see KTSTR_CACHE_DIR.
package kernel
