package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/u-root/u-root/pkg/cpio"
)

// Entry describes one record of a newc archive, as [List] returns it.
type Entry struct {
	Name string      // archive name, without a leading slash ("usr/lib")
	Mode os.FileMode // type and permission bits
	Size int64       // size of the record's data (the target's length for symlinks)
	Link string      // symlink target, "" for other records
}

// maxTarget is the longest symlink target List accepts (PATH_MAX).
const maxTarget = 4096

// List reads the newc archive r and returns its records in order, without
// the trailer. An archive that ends before its trailer is an error. List
// reads r through a buffer, so it may consume bytes past the trailer.
func List(r io.Reader) ([]Entry, error) {
	rr := cpio.Newc.Reader(&forwardReaderAt{r: bufio.NewReader(r)})
	// Read through the EOFReader, which hides both the trailer and a
	// truncated end behind io.EOF.
	if eof, ok := rr.(cpio.EOFReader); ok {
		rr = eof.RecordReader
	}
	var entries []Entry
	for {
		rec, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("initramfs: list: archive ends after %d records without a trailer", len(entries))
		}
		if err != nil {
			return nil, fmt.Errorf("initramfs: list: record %d: %w", len(entries)+1, err)
		}
		if rec.Name == cpio.Trailer {
			return entries, nil
		}
		e := Entry{Name: rec.Name, Mode: fileMode(rec.Mode), Size: int64(rec.FileSize)}
		if e.Mode.Type() == os.ModeSymlink && rec.FileSize > 0 {
			if rec.FileSize > maxTarget {
				return nil, fmt.Errorf("initramfs: list: %s: symlink target of %d bytes", rec.Name, rec.FileSize)
			}
			target := make([]byte, rec.FileSize)
			if _, err := rec.ReadAt(target, 0); err != nil {
				return nil, fmt.Errorf("initramfs: list: %s: read symlink target: %w", rec.Name, err)
			}
			e.Link = string(target)
		}
		entries = append(entries, e)
	}
}

// fileMode converts a Unix st_mode to an os.FileMode.
func fileMode(m uint64) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & cpio.S_IFMT {
	case cpio.S_IFDIR:
		mode |= os.ModeDir
	case cpio.S_IFLNK:
		mode |= os.ModeSymlink
	case cpio.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case cpio.S_IFBLK:
		mode |= os.ModeDevice
	case cpio.S_IFIFO:
		mode |= os.ModeNamedPipe
	case cpio.S_IFSOCK:
		mode |= os.ModeSocket
	case cpio.S_IFREG:
	default:
		mode |= os.ModeIrregular
	}
	if m&cpio.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&cpio.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&cpio.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// forwardReaderAt lets the cpio reader, which reads at increasing offsets,
// read a plain io.Reader: skipped bytes are discarded.
type forwardReaderAt struct {
	r   io.Reader
	off int64
}

func (f *forwardReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < f.off {
		return 0, fmt.Errorf("read at offset %d after offset %d", off, f.off)
	}
	if off > f.off {
		n, err := io.CopyN(io.Discard, f.r, off-f.off)
		f.off += n
		if err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(f.r, p)
	f.off += int64(n)
	return n, err
}
