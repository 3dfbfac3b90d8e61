package initramfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// This file finds the shared libraries of an ELF program the way glibc's
// dynamic loader (elf/dl-load.c, elf/dl-deps.c) does, without running the
// loader or anything else: the program's PT_INTERP, DT_NEEDED, DT_RPATH and
// DT_RUNPATH name files and directories that are only read. Running the
// interpreter with --list, as ldd does, would run whatever program a crafted
// binary names in PT_INTERP.
//
// Deliberate differences from the loader:
//   - glibc-hwcaps and legacy hwcap subdirectories (glibc-hwcaps/x86-64-v3,
//     tls, x86_64) of the search directories, and the ld.so cache entries
//     for them, are not used: they hold builds for particular CPUs, while
//     the baseline library that is packed instead runs on any guest CPU,
//     and the guest's loader falls back to it as the subdirectories are
//     not in the archive.
//   - Relative and empty search path entries, which the loader resolves
//     against the working directory of the process, are skipped, and a
//     relative DT_NEEDED path is an error: the working directory of the
//     program in the guest is unknown.
//   - The program is not treated as set-user-ID (the loader then ignores
//     LD_LIBRARY_PATH and restricts $ORIGIN), LD_PRELOAD, /etc/ld.so.preload,
//     DT_AUXILIARY and DT_FILTER are not followed, and the default
//     directories are a fixed list rather than the ones compiled into the
//     host's loader (see systemDirs).

// ldCacheFile is the ld.so cache the loader consults (LD_SO_CACHE).
const ldCacheFile = "/etc/ld.so.cache"

// object is an ELF file in the loader's list of loaded objects.
type object struct {
	name   string   // the path it was opened at; the program's host path
	origin string   // what $ORIGIN expands to in its dynamic entries
	loader *object  // the object whose DT_NEEDED loaded it (l_loader)
	names  []string // the names that refer to it (l_name, l_libname, soname)
	dynamic
}

// dynamic holds the entries of a PT_DYNAMIC segment that drive the search.
type dynamic struct {
	needed     []string // DT_NEEDED, in order
	soname     string   // DT_SONAME
	rpath      string   // DT_RPATH; ignored when hasRunpath
	runpath    string   // DT_RUNPATH
	hasRpath   bool
	hasRunpath bool
	nodeflib   bool // DF_1_NODEFLIB: no ld.so cache or default directories
}

// resolver is the state of one resolution: the loaded objects and the
// search configuration.
type resolver struct {
	class   elf.Class // of the program: libraries must match it
	data    elf.Data
	machine elf.Machine
	interp  string // PT_INTERP of the program

	libraryPath string   // LD_LIBRARY_PATH
	cacheFile   string   // ld.so cache, ldCacheFile
	systemDirs  []string // default directories

	cache     []cacheEntry
	cacheRead bool

	main    *object
	objects []*object          // loaded, in load order
	byFile  map[string]*object // by symlink-free path
	paths   []string           // paths libraries were found at, in order
	seen    map[string]bool    // paths
}

// search is one library lookup, with what it tried for the error message.
type search struct {
	name     string
	loader   *object
	searched []string // directories and files tried, with where they come from
	skipped  []string // candidates of another ELF class or machine
}

// sharedObjects returns the PT_INTERP path of the ELF program at hostPath
// and the paths at which the dynamic loader finds its shared libraries,
// transitively, in load order and without the interpreter. interp is ""
// and libs nil when hostPath is not ELF or has no PT_INTERP (static
// binaries, static-pie, shared libraries, scripts, data).
//
// LD_LIBRARY_PATH is honoured as the loader honours it for a program run
// from this process.
func sharedObjects(hostPath string) (interp string, libs []string, err error) {
	f, err := os.Open(hostPath)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var magic [len(elf.ELFMAG)]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return "", nil, nil // scripts, data, empty files
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", nil, fmt.Errorf("read ELF %s: %w", hostPath, err)
	}
	interp, err = progInterp(ef, hostPath)
	if err != nil || interp == "" {
		return "", nil, err
	}
	dyn, err := readDynamic(ef, f)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", hostPath, err)
	}
	// Like the kernel's /proc/self/exe, which the loader reads for the
	// program's $ORIGIN, and like the loader's canonicalization of a
	// program it is asked to run (ld.so --list), the program's directory
	// is taken after resolving symlinks. A library's $ORIGIN is the
	// directory it was found in, symlinks not resolved (see load).
	origin := ""
	if abs, err := filepath.Abs(hostPath); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			origin = filepath.Dir(real)
		}
	}
	if origin == "" {
		return "", nil, fmt.Errorf("%s: cannot resolve the directory of the program for $ORIGIN", hostPath)
	}
	r := &resolver{
		class:       ef.Class,
		data:        ef.Data,
		machine:     ef.Machine,
		interp:      interp,
		libraryPath: os.Getenv("LD_LIBRARY_PATH"),
		cacheFile:   ldCacheFile,
		systemDirs:  systemDirs(ef.Class, ef.Machine),
	}
	libs, err = r.resolve(hostPath, origin, dyn)
	return interp, libs, err
}

// progInterp returns the PT_INTERP path of ef, or "" if it has none.
func progInterp(ef *elf.File, hostPath string) (string, error) {
	for _, p := range ef.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return "", fmt.Errorf("read PT_INTERP of %s: %w", hostPath, err)
		}
		interp, _, _ := bytes.Cut(data, []byte{0})
		if len(interp) == 0 || interp[0] != '/' {
			return "", fmt.Errorf("%s: PT_INTERP %q is not an absolute path", hostPath, interp)
		}
		return string(interp), nil
	}
	return "", nil
}

// resolve loads the program's dependencies breadth first, as
// _dl_map_object_deps does, and returns the paths the libraries were found
// at. Every library that cannot be found is reported.
func (r *resolver) resolve(name, origin string, dyn dynamic) ([]string, error) {
	r.byFile = map[string]*object{}
	r.seen = map[string]bool{}
	// The loader's program map is named "" (and a DT_NEEDED "" names the
	// program), plus its DT_SONAME if it has one.
	r.main = &object{name: name, origin: origin, names: []string{""}, dynamic: dyn}
	if dyn.soname != "" {
		r.main.names = append(r.main.names, dyn.soname)
	}
	r.objects = append(r.objects, r.main)
	// The interpreter is loaded by the kernel and is in the list under its
	// PT_INTERP path and its soname: libc.so.6's DT_NEEDED
	// ld-linux-x86-64.so.2 is the interpreter. Its own DT_NEEDED, if any,
	// is not followed.
	interp := &object{name: r.interp, names: []string{r.interp}}
	if soname := sonameOf(r.interp); soname != "" {
		interp.names = append(interp.names, soname)
	}
	r.objects = append(r.objects, interp)
	if real, err := filepath.EvalSymlinks(r.interp); err == nil {
		r.byFile[real] = interp
	}

	var errs []error
	missing := map[string]bool{}
	for i := 0; i < len(r.objects); i++ {
		l := r.objects[i]
		for _, need := range l.needed {
			if missing[need] || r.lookup(need) != nil {
				continue
			}
			if err := r.mapObject(l, need); err != nil {
				// Reported once, for the first object that needs it
				// (the loader stops there), but the search goes on to
				// report every library that is missing.
				missing[need] = true
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r.paths, nil
}

// lookup returns the loaded object name refers to (_dl_lookup_map).
func (r *resolver) lookup(name string) *object {
	for _, o := range r.objects {
		for _, n := range o.names {
			if n == name {
				return o
			}
		}
	}
	return nil
}

// mapObject finds and loads the library name needed by loader
// (_dl_map_new_object).
func (r *resolver) mapObject(loader *object, name string) error {
	s := &search{name: name, loader: loader}
	wrap := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("shared library %s needed by %s: %w", name, loader.name, err)
	}
	if strings.Contains(name, "/") {
		// A path, with dynamic string tokens expanded.
		p, err := r.expand(loader, name)
		if err != nil {
			return wrap(err)
		}
		if !strings.HasPrefix(p, "/") {
			return wrap(fmt.Errorf("%q is a relative path, which the loader opens from the working directory of the process", p))
		}
		s.searched = append(s.searched, p)
		found, err := r.try(s, p)
		if err != nil || found {
			return wrap(err)
		}
		return wrap(s.notFound())
	}

	steps := []func() (bool, error){
		func() (bool, error) {
			// DT_RPATH of the loader, of its loader, and so on up to the
			// program, unless the loader has a DT_RUNPATH. An object with
			// both has its DT_RPATH ignored.
			if loader.hasRunpath {
				return false, nil
			}
			for l := loader; l != nil; l = l.loader {
				if l.hasRpath && !l.hasRunpath {
					if found, err := r.tryPath(s, l.rpath, ":", l, "RPATH of "+l.name); found || err != nil {
						return found, err
					}
				}
			}
			return false, nil
		},
		func() (bool, error) {
			// $ORIGIN in LD_LIBRARY_PATH is the program's directory.
			return r.tryPath(s, r.libraryPath, ":;", r.main, "LD_LIBRARY_PATH")
		},
		func() (bool, error) {
			// DT_RUNPATH of the loader only.
			if !loader.hasRunpath {
				return false, nil
			}
			return r.tryPath(s, loader.runpath, ":", loader, "RUNPATH of "+loader.name)
		},
		func() (bool, error) {
			p := r.cacheLookup(name)
			if p == "" {
				s.searched = append(s.searched, r.cacheFile)
				return false, nil
			}
			if loader.nodeflib && r.inSystemDir(p) {
				return false, nil
			}
			s.searched = append(s.searched, p+" (from "+r.cacheFile+")")
			return r.try(s, p)
		},
		func() (bool, error) {
			if loader.nodeflib {
				return false, nil
			}
			for _, dir := range r.systemDirs {
				s.searched = append(s.searched, dir+" (default)")
				if found, err := r.try(s, dir+"/"+name); found || err != nil {
					return found, err
				}
			}
			return false, nil
		},
	}
	for _, step := range steps {
		if found, err := step(); found || err != nil {
			return wrap(err)
		}
	}
	return wrap(s.notFound())
}

// notFound is the error of a search that found nothing.
func (s *search) notFound() error {
	msg := "not found"
	if len(s.searched) > 0 {
		msg += " (searched " + strings.Join(s.searched, ", ") + ")"
	}
	if len(s.skipped) > 0 {
		msg += "; skipped as the loader does: " + strings.Join(s.skipped, ", ")
	}
	return errors.New(msg)
}

// tryPath looks for s.name in the directories of the search path list,
// separated by any of seps, with dynamic string tokens expanded for l.
func (r *resolver) tryPath(s *search, list, seps string, l *object, what string) (bool, error) {
	for _, elem := range strings.FieldsFunc(list, func(c rune) bool { return strings.ContainsRune(seps, c) }) {
		dir, err := r.expand(l, elem)
		if err != nil {
			return false, fmt.Errorf("%s %q: %w", what, list, err)
		}
		// Trailing slashes are dropped, except for "/" (fillin_rpath).
		for len(dir) > 1 && dir[len(dir)-1] == '/' {
			dir = dir[:len(dir)-1]
		}
		if !strings.HasPrefix(dir, "/") {
			continue // empty after expansion, or relative to the working directory
		}
		s.searched = append(s.searched, dir+" ("+what+")")
		p := dir + "/" + s.name
		if dir == "/" {
			p = dir + s.name
		}
		if found, err := r.try(s, p); found || err != nil {
			return found, err
		}
	}
	return false, nil
}

// try loads the file at p as s.name if the loader would: found is false,
// and the search goes on, when there is no such file or it is an ELF file
// of another class or machine; other files the loader cannot use stop the
// loader, and are errors.
func (r *resolver) try(s *search, p string) (found bool, err error) {
	f, err := os.Open(p)
	if err != nil {
		// The loader goes on past ENOENT, EACCES and ENOTDIR; other
		// errors (ELOOP, ...) end its search of the current list; both
		// are passed over here.
		return false, nil
	}
	defer f.Close()
	skip, err := r.checkHeader(f)
	if err != nil {
		return false, fmt.Errorf("%s: %w (the loader stops at this file)", p, err)
	}
	if skip != "" {
		s.skipped = append(s.skipped, p+" ("+skip+")")
		return false, nil
	}
	return true, r.load(s, p, f)
}

// load adds the object found at p for s, unless it is a file already loaded
// under another name.
func (r *resolver) load(s *search, p string, f *os.File) error {
	if !r.seen[p] {
		r.seen[p] = true
		r.paths = append(r.paths, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	if o := r.byFile[real]; o != nil {
		o.names = append(o.names, s.name)
		return nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("read ELF %s: %w", p, err)
	}
	dyn, err := readDynamic(ef, f)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	// Like _dl_new_object, $ORIGIN is the directory part of the path the
	// library was opened at, which is absolute here.
	origin := p[:strings.LastIndexByte(p, '/')]
	if origin == "" {
		origin = "/"
	}
	o := &object{name: p, origin: origin, loader: s.loader, names: []string{s.name, p}, dynamic: dyn}
	if dyn.soname != "" {
		o.names = append(o.names, dyn.soname)
	}
	r.objects = append(r.objects, o)
	r.byFile[real] = o
	return nil
}

// checkHeader checks the ELF header of f as the loader's open_verify does.
// It returns a reason to skip the file (another ELF class or machine, which
// the loader passes over), or an error for what the loader rejects.
func (r *resolver) checkHeader(f io.Reader) (skip string, err error) {
	size := 64 // sizeof(Elf64_Ehdr): the loader reads its own class's header
	if r.class == elf.ELFCLASS32 {
		size = 52
	}
	hdr := make([]byte, size)
	if _, err := io.ReadFull(f, hdr); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return "", errors.New("file too short")
		}
		return "", fmt.Errorf("cannot read file data: %w", err)
	}
	switch {
	case string(hdr[:elf.EI_CLASS]) != elf.ELFMAG:
		return "", errors.New("invalid ELF header")
	case elf.Class(hdr[elf.EI_CLASS]) != r.class:
		return "wrong ELF class " + elf.Class(hdr[elf.EI_CLASS]).String(), nil
	case elf.Data(hdr[elf.EI_DATA]) != r.data:
		return "", fmt.Errorf("ELF data encoding %v, not %v", elf.Data(hdr[elf.EI_DATA]), r.data)
	case elf.Version(hdr[elf.EI_VERSION]) != elf.EV_CURRENT:
		return "", errors.New("ELF file version ident does not match current one")
	case elf.OSABI(hdr[elf.EI_OSABI]) != elf.ELFOSABI_NONE && elf.OSABI(hdr[elf.EI_OSABI]) != elf.ELFOSABI_LINUX:
		return "", fmt.Errorf("ELF file OS ABI %v invalid", elf.OSABI(hdr[elf.EI_OSABI]))
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if r.data == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	typ := elf.Type(bo.Uint16(hdr[16:]))
	machine := elf.Machine(bo.Uint16(hdr[18:]))
	phentsize, wantPhentsize := bo.Uint16(hdr[54:]), uint16(56)
	if r.class == elf.ELFCLASS32 {
		phentsize, wantPhentsize = bo.Uint16(hdr[42:]), 32
	}
	switch {
	case bo.Uint32(hdr[20:]) != uint32(elf.EV_CURRENT):
		return "", errors.New("ELF file version does not match current one")
	case machine != r.machine:
		return "wrong ELF machine " + machine.String(), nil
	case typ != elf.ET_DYN:
		return "", fmt.Errorf("not a shared object (%v)", typ)
	case phentsize != wantPhentsize:
		return "", errors.New("ELF file's phentsize not the expected size")
	}
	return "", nil
}

// expand substitutes the dynamic string tokens $ORIGIN, $PLATFORM and $LIB
// (or ${ORIGIN}, ...) in s for object l, as _dl_dst_substitute does. Other
// $ sequences are kept as they are.
func (r *resolver) expand(l *object, s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		i++
		var repl string
		var n int
		var err error
		if n = isDST(s[i:], "ORIGIN"); n > 0 {
			repl = l.origin
		} else if n = isDST(s[i:], "PLATFORM"); n > 0 {
			repl, err = r.platform()
		} else if n = isDST(s[i:], "LIB"); n > 0 {
			repl, err = r.dstLib()
		} else {
			b.WriteByte('$')
			continue
		}
		if err != nil {
			return "", fmt.Errorf("cannot expand %q: %w", s, err)
		}
		b.WriteString(repl)
		i += n
	}
	return b.String(), nil
}

// isDST returns the length of the token ref ("NAME" or "{NAME}") at the
// start of s, after a '$', or 0 (is_dst).
func isDST(s, ref string) int {
	curly := strings.HasPrefix(s, "{")
	if curly {
		s = s[1:]
	}
	if !strings.HasPrefix(s, ref) {
		return 0
	}
	rest := s[len(ref):]
	if curly {
		if !strings.HasPrefix(rest, "}") {
			return 0
		}
		return len(ref) + 2
	}
	if rest != "" {
		c := rest[0]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			return 0
		}
	}
	return len(ref)
}

// platform is $PLATFORM: the AT_PLATFORM string the Linux kernel gives
// programs of r's machine.
func (r *resolver) platform() (string, error) {
	switch r.machine {
	case elf.EM_X86_64:
		return "x86_64", nil
	case elf.EM_386:
		return "i686", nil
	case elf.EM_AARCH64:
		return "aarch64", nil
	}
	return "", fmt.Errorf("$PLATFORM is not known for %v programs", r.machine)
}

// dstLib is $LIB: the name of the loader's library directory, compiled into
// it ("lib64" on Fedora, "lib/x86_64-linux-gnu" on Debian). It is taken from
// the directory the interpreter lives in on the host, as the loader is
// installed there.
func (r *resolver) dstLib() (string, error) {
	real, err := filepath.EvalSymlinks(r.interp)
	if err != nil {
		return "", fmt.Errorf("$LIB: %w", err)
	}
	dir := filepath.Dir(real)
	base := filepath.Base(dir)
	switch {
	case filepath.Base(filepath.Dir(dir)) == "lib" && strings.Contains(base, "-linux-"):
		return "lib/" + base, nil // Debian multiarch
	case base == "lib" || base == "lib64" || base == "lib32" || base == "libx32":
		return base, nil
	}
	return "", fmt.Errorf("$LIB: the interpreter %s is not in a library directory", real)
}

// systemDirs returns the default directories for libraries of class and
// machine: the loader's compiled-in list, which AddBinary cannot read without
// running it, so the union of the lists of the common distributions, in
// their order: Debian's multiarch directories (/lib/x86_64-linux-gnu,
// /usr/lib/x86_64-linux-gnu), then /lib64 and /usr/lib64 (Fedora, SUSE) for
// 64-bit programs, then /lib and /usr/lib (both, and Arch). ld.so --help
// lists the host's under "Shared library search path".
func systemDirs(class elf.Class, machine elf.Machine) []string {
	var dirs []string
	tuple := ""
	switch {
	case machine == elf.EM_X86_64 && class == elf.ELFCLASS64:
		tuple = "x86_64-linux-gnu"
	case machine == elf.EM_X86_64:
		tuple = "x86_64-linux-gnux32"
	case machine == elf.EM_386:
		tuple = "i386-linux-gnu"
	case machine == elf.EM_AARCH64 && class == elf.ELFCLASS64:
		tuple = "aarch64-linux-gnu"
	}
	if tuple != "" {
		dirs = append(dirs, "/lib/"+tuple, "/usr/lib/"+tuple)
	}
	switch {
	case class == elf.ELFCLASS64:
		dirs = append(dirs, "/lib64", "/usr/lib64")
	case machine == elf.EM_X86_64:
		dirs = append(dirs, "/libx32", "/usr/libx32")
	}
	return append(dirs, "/lib", "/usr/lib")
}

// inSystemDir reports whether p is in a default directory, for
// DF_1_NODEFLIB.
func (r *resolver) inSystemDir(p string) bool {
	for _, dir := range r.systemDirs {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// sonameOf returns the DT_SONAME of the ELF file at p, or "" when it has
// none or cannot be read.
func sonameOf(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return ""
	}
	dyn, err := readDynamic(ef, f)
	if err != nil {
		return ""
	}
	return dyn.soname
}

// readDynamic reads the entries of ef's PT_DYNAMIC segment, the one the
// loader uses (section headers may be missing), with their strings from
// DT_STRTAB, located through the PT_LOAD segments. ra reads ef's file.
func readDynamic(ef *elf.File, ra io.ReaderAt) (dynamic, error) {
	var d dynamic
	var prog *elf.Prog
	for _, p := range ef.Progs {
		if p.Type == elf.PT_DYNAMIC {
			prog = p
			break
		}
	}
	if prog == nil {
		return d, nil
	}
	raw, err := io.ReadAll(prog.Open())
	if err != nil {
		return d, fmt.Errorf("read PT_DYNAMIC: %w", err)
	}
	entSize := 16
	if ef.Class == elf.ELFCLASS32 {
		entSize = 8
	}
	type ref struct {
		tag elf.DynTag
		off uint64
	}
	var refs []ref
	var strtab, strsz uint64
	haveStrtab := false
entries:
	for i := 0; i+entSize <= len(raw); i += entSize {
		var tag elf.DynTag
		var val uint64
		if entSize == 16 {
			tag, val = elf.DynTag(int64(ef.ByteOrder.Uint64(raw[i:]))), ef.ByteOrder.Uint64(raw[i+8:])
		} else {
			tag, val = elf.DynTag(int32(ef.ByteOrder.Uint32(raw[i:]))), uint64(ef.ByteOrder.Uint32(raw[i+4:]))
		}
		switch tag {
		case elf.DT_NULL:
			break entries
		case elf.DT_NEEDED, elf.DT_SONAME, elf.DT_RPATH, elf.DT_RUNPATH:
			refs = append(refs, ref{tag, val})
		case elf.DT_STRTAB:
			strtab, haveStrtab = val, true
		case elf.DT_STRSZ:
			strsz = val
		case elf.DT_FLAGS_1:
			d.nodeflib = elf.DynFlag1(val)&elf.DF_1_NODEFLIB != 0
		}
	}
	if len(refs) == 0 {
		return d, nil
	}
	if !haveStrtab {
		return d, errors.New("PT_DYNAMIC has no DT_STRTAB")
	}
	var table []byte
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD || strtab < p.Vaddr || strtab-p.Vaddr >= p.Filesz {
			continue
		}
		n := p.Filesz - (strtab - p.Vaddr)
		if strsz != 0 && strsz < n {
			n = strsz
		}
		off := p.Off + (strtab - p.Vaddr)
		if off > math.MaxInt64 || n > math.MaxInt64-off {
			break
		}
		table, err = io.ReadAll(io.NewSectionReader(ra, int64(off), int64(n)))
		if err != nil {
			return d, fmt.Errorf("read DT_STRTAB: %w", err)
		}
		break
	}
	if table == nil {
		return d, fmt.Errorf("DT_STRTAB %#x is not in a PT_LOAD segment", strtab)
	}
	for _, ref := range refs {
		if ref.off >= uint64(len(table)) {
			return d, fmt.Errorf("%v string at %#x is outside DT_STRTAB", ref.tag, ref.off)
		}
		s, _, ok := bytes.Cut(table[ref.off:], []byte{0})
		if !ok {
			return d, fmt.Errorf("%v string at %#x is not terminated", ref.tag, ref.off)
		}
		switch ref.tag {
		case elf.DT_NEEDED:
			d.needed = append(d.needed, string(s))
		case elf.DT_SONAME:
			d.soname = string(s)
		case elf.DT_RPATH:
			d.rpath, d.hasRpath = string(s), true
		case elf.DT_RUNPATH:
			d.runpath, d.hasRunpath = string(s), true
		}
	}
	return d, nil
}
