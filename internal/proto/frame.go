// Package proto holds the wire format between the host and the guest.
//
// Host to guest: a Job, written as JSON into the initramfs at JobPath.
//
// Guest to host: frames on the results channel (a virtio-serial port named
// PortName). A frame is one line:
//
//	@ktstr1 <length> <crc32c> <json>\n
//
// where length is the byte length of json, crc32c is its Castagnoli CRC in
// eight hex digits, and json is an Envelope. Anything else on the channel is
// skipped; a frame whose length or checksum does not match is reported as
// corrupt rather than trusted, and so is a frame longer than MaxFrame. Each
// frame type has one sender (see the Type constants). The guest ends every
// run with a Done frame; a stream without one means the guest died or hung.
package proto

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"sync"
)

const framePrefix = "@ktstr1 "

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Envelope is the JSON body of a frame.
type Envelope struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Writer writes frames. It is safe for concurrent use; each frame is written
// with a single Write call.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Send writes one frame of type typ carrying v.
func (w *Writer) Send(typ string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	body, err := json.Marshal(Envelope{Type: typ, Data: data})
	if err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	line := fmt.Appendf(nil, "%s%d %08x %s\n", framePrefix, len(body), crc32.Checksum(body, castagnoli), body)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(line); err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	return nil
}

// ErrCorrupt is wrapped by the error Reader.Next returns for a frame whose
// length or checksum is wrong, or that is longer than MaxFrame.
var ErrCorrupt = errors.New("corrupt frame")

// MaxFrame is the largest frame body a Reader accepts. A longer line is
// skipped without being held in memory and reported as corrupt, so that a
// guest cannot make the host allocate without bound.
const MaxFrame = 8 << 20

// Reader reads frames.
type Reader struct {
	r    *bufio.Reader
	line []byte
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next frame. It returns io.EOF at the end of the stream,
// and an error wrapping ErrCorrupt for a damaged or oversized frame
// (reading may go on after it). Lines that are not frames are skipped.
func (r *Reader) Next() (Envelope, error) {
	for {
		line, cut, err := r.readLine()
		if len(line) == 0 && !cut && err != nil {
			return Envelope{}, err
		}
		i := bytes.Index(line, []byte(framePrefix))
		if i < 0 {
			if err != nil {
				return Envelope{}, err
			}
			continue
		}
		if cut {
			return Envelope{}, fmt.Errorf("%w: frame longer than %d bytes skipped", ErrCorrupt, MaxFrame)
		}
		return parseFrame(bytes.TrimRight(line[i+len(framePrefix):], "\r\n"))
	}
}

// readLine returns the next line, without its newline, holding at most
// MaxFrame plus the header in memory; cut reports a longer line, whose rest
// was discarded.
func (r *Reader) readLine() (line []byte, cut bool, err error) {
	const limit = MaxFrame + 64
	r.line = r.line[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		if !cut {
			if room := limit - len(r.line); len(chunk) > room {
				// Keep the head (so a frame is still told from noise),
				// drop the rest.
				r.line, cut = grow(r.line, chunk[:room], limit), true
			} else {
				r.line = grow(r.line, chunk, limit)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil {
			return bytes.TrimSuffix(r.line, []byte("\n")), cut, nil
		}
		return r.line, cut, err
	}
}

// grow appends b to line, doubling its capacity when needed but never past
// limit, so a long line costs at most about twice its kept size in
// allocations.
func grow(line, b []byte, limit int) []byte {
	if need := len(line) + len(b); need > cap(line) {
		n := min(max(2*cap(line), need, 4096), limit)
		line = append(make([]byte, 0, n), line...)
	}
	return append(line, b...)
}

func parseFrame(rest []byte) (Envelope, error) {
	lenField, rest, ok1 := bytes.Cut(rest, []byte(" "))
	sumField, body, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 {
		return Envelope{}, fmt.Errorf("%w: malformed header", ErrCorrupt)
	}
	n, err := strconv.Atoi(string(lenField))
	if err != nil || n != len(body) {
		return Envelope{}, fmt.Errorf("%w: length %q, body has %d bytes", ErrCorrupt, lenField, len(body))
	}
	sum, err := strconv.ParseUint(string(sumField), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(body, castagnoli) {
		return Envelope{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return e, nil
}

// Decode unmarshals the frame's data into v.
func (e Envelope) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode %s frame: %w", e.Type, err)
	}
	return nil
}
