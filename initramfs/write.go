package initramfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// WriteTo writes the uncompressed newc archive to w: one record per entry
// and per parent directory, in archive order (a directory right before its
// contents), with mtime, uid and gid 0 and inode numbers given by that
// order, then the trailer. Host files are streamed from disk; one that
// changed since it was added makes WriteTo fail, leaving a partial archive
// in w.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, err := b.layout()
	if err != nil {
		return 0, err
	}
	return l.writeTo(w)
}

func (l *layout) writeTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<16)
	rw := cpio.Newc.Writer(bw)
	for i, name := range l.names {
		if err := writeRecord(rw, uint64(i+1), name, l.nodes[name].e); err != nil {
			return cw.n, fmt.Errorf("initramfs: write /%s: %w", name, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return cw.n, fmt.Errorf("initramfs: write trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("initramfs: write: %w", err)
	}
	return cw.n, nil
}

// writeRecord writes the record of e, named name.
func writeRecord(rw cpio.RecordWriter, ino uint64, name string, e *entry) error {
	info := cpio.Info{Ino: ino, Name: name, NLink: 1}
	switch e.kind {
	case kindDir:
		info.Mode = cpio.S_IFDIR | uint64(e.perm)
		info.NLink = 2
		return rw.WriteRecord(cpio.Record{Info: info})
	case kindSymlink:
		info.Mode = cpio.S_IFLNK | 0o777
		info.FileSize = uint64(len(e.target))
		return rw.WriteRecord(cpio.Record{Info: info, ReaderAt: strings.NewReader(e.target)})
	}
	// NLink 1: the kernel treats regular files with more links as hard
	// links to earlier records with the same inode number.
	info.Mode = cpio.S_IFREG | uint64(e.perm)
	info.FileSize = uint64(e.size)
	if e.host == "" {
		return rw.WriteRecord(cpio.Record{Info: info, ReaderAt: bytes.NewReader(e.data)})
	}
	f, err := os.Open(e.host)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != e.size {
		return fmt.Errorf("host file %s changed since it was added: %d bytes, was %d", e.host, fi.Size(), e.size)
	}
	hr := &hashingReaderAt{r: f, size: e.size, h: sha256.New()}
	if err := rw.WriteRecord(cpio.Record{Info: info, ReaderAt: hr}); err != nil {
		return err
	}
	if !bytes.Equal(hr.h.Sum(nil), e.sum[:]) {
		return fmt.Errorf("host file %s changed since it was added: contents differ", e.host)
	}
	return nil
}

// hashingReaderAt serves the first size bytes of r to the cpio writer, which
// reads them in order, and hashes them on the way.
type hashingReaderAt struct {
	r    io.ReaderAt
	size int64
	off  int64
	h    hash.Hash
}

func (hr *hashingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off != hr.off {
		return 0, errors.New("initramfs: file contents read out of order")
	}
	if off >= hr.size {
		return 0, io.EOF
	}
	if rest := hr.size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := hr.r.ReadAt(p, off)
	hr.h.Write(p[:n])
	hr.off += int64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
