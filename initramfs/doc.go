// Package initramfs builds the newc cpio archives that ktstr boots as the
// guest's initramfs: the Go test binary as /init, the shared libraries of any
// dynamic binaries it needs, and small generated files.
//
// A [Builder] collects entries (files copied from the host, bytes,
// directories, symlinks) keyed by their path in the guest. [Builder.AddBinary]
// adds a host binary together with its ELF interpreter and the transitive
// closure of its DT_NEEDED libraries, as the host's dynamic loader resolves
// them.
//
// # Finding libraries
//
// AddBinary reads the ELF files and reproduces glibc's search (elf/dl-load.c)
// in Go: nothing the binary names is executed, neither its PT_INTERP (packed
// as a plain file: ldd runs it with --list, which would run any program a
// crafted binary names) nor the binary or its libraries. The DT_NEEDED
// entries of the binary and of every library it loads are resolved breadth
// first; a name already loaded (as a DT_NEEDED name, path or DT_SONAME, the
// interpreter included) is not searched again. A name with a slash is a
// path. Other names are looked up in:
//
//  1. the DT_RPATH of the object that needs the name, then of the object
//     that loaded that one, and so on up to the binary, unless the object
//     that needs it has a DT_RUNPATH (an object with both has no DT_RPATH);
//  2. LD_LIBRARY_PATH of the calling process (':' or ';' separated);
//  3. the DT_RUNPATH of the object that needs the name, which therefore
//     applies to its own DT_NEEDED only;
//  4. /etc/ld.so.cache, the file the loader reads (the configuration in
//     /etc/ld.so.conf is only read by ldconfig to write it);
//  5. the default directories: /lib/<multiarch>, /usr/lib/<multiarch>
//     (Debian), /lib64, /usr/lib64 (64-bit programs), /lib and /usr/lib.
//
// An object with DF_1_NODEFLIB skips the last two steps for its DT_NEEDED
// (cache entries outside the default directories still count). In run paths,
// $ORIGIN is the directory of the object that carries it: the binary's real
// directory (symlinks resolved, as the kernel reports it in /proc/self/exe),
// or the directory a library was found in, as the loader opened it. $PLATFORM
// is the kernel's AT_PLATFORM (x86_64) and $LIB the loader's library
// directory, taken from where the interpreter is installed
// (lib/x86_64-linux-gnu on Debian, lib64 on Fedora). A file found on the way
// that is an ELF file of another class or machine is skipped, as the loader
// does; any other file the loader cannot load (not ELF, truncated) is an
// error, as it stops the loader. A library not found anywhere is an error
// naming it, the object that needs it and the places searched.
//
// Not reproduced: the glibc-hwcaps and legacy hwcap subdirectories (the
// baseline library is packed, which every CPU runs), relative and empty run
// path entries (relative to the working directory of the process),
// set-user-ID restrictions, LD_PRELOAD and /etc/ld.so.preload, filter
// libraries (DT_FILTER, DT_AUXILIARY). The archive has no ld.so cache, so
// the guest's loader only finds the libraries the host's found through its
// cache when they are in a run path or a default directory.
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
