package initramfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"strings"
)

// The ld.so cache step of the search reads /etc/ld.so.cache, the file the
// loader itself reads (_dl_load_cache_lookup in elf/dl-cache.c), rather than
// /etc/ld.so.conf: the loader never reads the configuration, only the cache
// ldconfig generated from it, so the cache gives the loader's answer even
// when the two disagree (a cache not regenerated since the configuration
// changed, directories given to ldconfig on its command line), without
// reimplementing ldconfig (include globs, the trusted directories it adds,
// which of two libraries with the same soname wins, sonames read from the
// files).

// cacheEntry is one library of the ld.so cache.
type cacheEntry struct {
	flags int32  // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 (0x303), ...
	name  string // soname (the key)
	path  string
	hwcap uint64 // nonzero for hwcap subdirectory entries
}

const (
	cacheMagicOld = "ld.so-1.7.0"          // struct cache_file
	cacheMagicNew = "glibc-ld.so.cache1.1" // struct cache_file_new

	cacheHeaderOld = 16 // magic (padded to 12 bytes), nlibs
	cacheEntryOld  = 12 // flags, key, value
	cacheHeaderNew = 48 // magic and version, nlibs, len_strings, flags, padding, extension_offset, unused[3]
	cacheEntryNew  = 24 // flags, key, value, osversion, hwcap
)

// readLdCache returns the entries of the ld.so cache at path, in their
// order, or nil when it is missing or malformed: the loader then goes on
// without it.
func readLdCache(path string) []cacheEntry {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseLdCache(data)
}

// parseLdCache parses an ld.so cache in any of the formats the loader
// reads: the new format alone (what ldconfig writes since glibc 2.32), the
// old format followed by the new one, or the old one alone. The file is in
// the host's byte order.
func parseLdCache(data []byte) []cacheEntry {
	if bytes.HasPrefix(data, []byte(cacheMagicNew)) {
		entries, _ := parseLdCacheNew(data)
		return entries
	}
	if !bytes.HasPrefix(data, []byte(cacheMagicOld)) || len(data) < cacheHeaderOld {
		return nil
	}
	n := uint64(binary.NativeEndian.Uint32(data[12:]))
	if uint64(len(data)-cacheHeaderOld)/cacheEntryOld < n {
		return nil
	}
	end := cacheHeaderOld + int(n)*cacheEntryOld
	// The new format follows, aligned like struct cache_file_new (8).
	if off := (end + 7) &^ 7; off < len(data) && bytes.HasPrefix(data[off:], []byte(cacheMagicNew)) {
		if entries, ok := parseLdCacheNew(data[off:]); ok {
			return entries
		}
	}
	strs := data[end:] // string offsets of the old format start here
	var entries []cacheEntry
	for i := range int(n) {
		e := data[cacheHeaderOld+i*cacheEntryOld:]
		name, ok1 := cString(strs, binary.NativeEndian.Uint32(e[4:]))
		path, ok2 := cString(strs, binary.NativeEndian.Uint32(e[8:]))
		if ok1 && ok2 {
			entries = append(entries, cacheEntry{flags: int32(binary.NativeEndian.Uint32(e)), name: name, path: path})
		}
	}
	return entries
}

// parseLdCacheNew parses a cache_file_new at the start of data; its string
// offsets are relative to its start.
func parseLdCacheNew(data []byte) ([]cacheEntry, bool) {
	if len(data) < cacheHeaderNew {
		return nil, false
	}
	n := uint64(binary.NativeEndian.Uint32(data[20:]))
	if uint64(len(data)-cacheHeaderNew)/cacheEntryNew < n {
		return nil, false
	}
	// flags & 3: 0 unset (host order), 1 invalid, 2 little, 3 big endian.
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	switch data[28] & 3 {
	case 1:
		return nil, false
	case 2:
		if !little {
			return nil, false
		}
	case 3:
		if little {
			return nil, false
		}
	}
	var entries []cacheEntry
	for i := range int(n) {
		e := data[cacheHeaderNew+i*cacheEntryNew:]
		name, ok1 := cString(data, binary.NativeEndian.Uint32(e[4:]))
		path, ok2 := cString(data, binary.NativeEndian.Uint32(e[8:]))
		if ok1 && ok2 {
			entries = append(entries, cacheEntry{
				flags: int32(binary.NativeEndian.Uint32(e)),
				name:  name,
				path:  path,
				hwcap: binary.NativeEndian.Uint64(e[16:]),
			})
		}
	}
	return entries, true
}

// cString returns the NUL-terminated string at off in data.
func cString(data []byte, off uint32) (string, bool) {
	if uint64(off) >= uint64(len(data)) {
		return "", false
	}
	s, _, ok := bytes.Cut(data[off:], []byte{0})
	return string(s), ok
}

// cacheFlags returns the cache entry flags the loader for class and machine
// accepts (_dl_cache_check_flags), the preferred one first.
func cacheFlags(class elf.Class, machine elf.Machine) (best, other int32) {
	const elfLibc6 = 0x0003 // FLAG_ELF_LIBC6
	switch {
	case machine == elf.EM_X86_64 && class == elf.ELFCLASS64:
		return 0x0300 | elfLibc6, 0x0300 | elfLibc6 // FLAG_X8664_LIB64
	case machine == elf.EM_X86_64:
		return 0x0800 | elfLibc6, 0x0800 | elfLibc6 // FLAG_X8664_LIBX32
	case machine == elf.EM_AARCH64 && class == elf.ELFCLASS64:
		return 0x0a00 | elfLibc6, 0x0a00 | elfLibc6 // FLAG_AARCH64_LIB64
	}
	// The generic check (i386 and others): FLAG_ELF_LIBC6 or FLAG_ELF.
	// The ELF class and machine of the file are checked anyway.
	return elfLibc6, 0x0001
}

// cacheLookup returns the path the ld.so cache gives for name, or "": the
// first entry for name, in the cache's order, with the flags of r's class
// and machine, preferring the exact flags as the loader does. Entries for
// hwcap subdirectories are left out (see the top of ldso.go).
func (r *resolver) cacheLookup(name string) string {
	if !r.cacheRead {
		r.cache, r.cacheRead = readLdCache(r.cacheFile), true
	}
	best, other := cacheFlags(r.class, r.machine)
	found := ""
	for _, e := range r.cache {
		if e.hwcap != 0 || !cacheNameEqual(name, e.name) {
			continue
		}
		if e.flags == best {
			return e.path
		}
		if found == "" && e.flags == other {
			found = e.path
		}
	}
	return found
}

// cacheNameEqual reports whether the loader's _dl_cache_libcmp finds a and
// b equal: runs of digits compare as numbers ("libfoo.so.01" is
// "libfoo.so.1"), other bytes as they are.
func cacheNameEqual(a, b string) bool {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	digits := func(s string) (string, string) {
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return strings.TrimLeft(s[:i], "0"), s[i:]
	}
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			var na, nb string
			na, a = digits(a)
			nb, b = digits(b)
			if na != nb {
				return false
			}
			continue
		}
		if a[0] != b[0] {
			return false
		}
		a, b = a[1:], b[1:]
	}
	return a == "" && b == ""
}
