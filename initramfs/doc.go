// Package initramfs builds the newc cpio archives that ktstr boots as the
// guest's initramfs: the Go test binary as /init, the shared libraries of any
// dynamic binaries it needs, and small generated files.
//
// A [Builder] collects entries (files copied from the host, bytes,
// directories, symlinks) keyed by their path in the guest. [Builder.AddBinary]
// adds a host binary together with its ELF interpreter and the transitive
// closure of its DT_NEEDED libraries, as the host's dynamic loader resolves
// them (github.com/u-root/u-root/pkg/ldd, which runs the interpreter with
// --list).
//
// # Layout of libraries
//
// Libraries keep their host paths. Each path is walked component by
// component on the host, and every symlink met on the way, whether it is a
// directory (Debian's merged /usr has /lib -> usr/lib and /lib64 ->
// usr/lib64) or the last component (lib64/ld-linux-x86-64.so.2 ->
// /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2, libfoo.so.1 ->
// libfoo.so.1.2.3), becomes a symlink record with the host's target, while
// the file at the end of the chain becomes a file record at its physical
// path. The guest therefore sees the same symlinks as the host and every
// path the loader uses resolves, with a single copy of each library.
//
// No record is ever written below a symlink record: the kernel unpacks the
// archive in order, and a record under lib/ written before usr/lib exists
// would be lost. When an entry's guest path goes through a symlink of the
// archive (a file added as /lib/modules/x.ko next to a lib -> usr/lib
// symlink), the entry is stored at the resolved path (usr/lib/modules/x.ko),
// as if it had been created in a running system. A directory added at the
// path of a symlink applies to the symlink's target. Two entries that land on
// the same path must be identical, otherwise [ErrConflict] is reported.
//
// # Reproducibility and caching
//
// Records are written in path order (a directory right before its contents),
// with mtime, uid and gid 0 and inode numbers given by that order, and end
// with the TRAILER!!! record; the archive is not compressed. [Builder.Hash]
// is a sha256 over the resolved layout (paths, types, modes, symlink targets,
// file sizes and contents), independent of the order of the Add calls.
// [Builder.Cached] stores the archive as <hash>.cpio in the ktstr cache
// (<cache root>/initramfs) and reuses it when present.
//
// Host files are hashed once when added and streamed from disk when the
// archive is written; a file whose contents changed in between makes the
// write fail, so a cached archive always matches its name.
package initramfs
