package initramfs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// hashVersion starts every hash. Change it whenever the archive written for
// the same entries changes, so that stale cache entries are not reused.
const hashVersion = "ktstr initramfs v1\n"

// Hash returns the hex sha256 of the archive's content: every record's
// name, type, mode, symlink target, and file size and contents. It does not
// depend on the order of the Add calls, and two builders with the same hash
// write the same archive. Host files are not read again: their contents are
// hashed when they are added.
func (b *Builder) Hash() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, err := b.layout()
	if err != nil {
		return "", err
	}
	return l.hash(), nil
}

func (l *layout) hash() string {
	h := sha256.New()
	h.Write([]byte(hashVersion))
	var buf []byte
	for _, name := range l.names {
		e := l.nodes[name].e
		buf = append(buf[:0], byte(e.kind))
		buf = binary.BigEndian.AppendUint32(buf, e.perm)
		buf = appendString(buf, name)
		switch e.kind {
		case kindFile:
			buf = binary.BigEndian.AppendUint64(buf, uint64(e.size))
			buf = append(buf, e.sum[:]...)
		case kindSymlink:
			buf = appendString(buf, e.target)
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendString appends s with its length, so that fields cannot run into
// each other.
func appendString(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
	return append(buf, s...)
}
