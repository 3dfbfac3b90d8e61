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
// corrupt rather than trusted. The guest ends every run with a Done frame; a
// stream without one means the guest died or hung.
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
// length or checksum is wrong.
var ErrCorrupt = errors.New("corrupt frame")

// Reader reads frames.
type Reader struct {
	r *bufio.Reader
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next frame. It returns io.EOF at the end of the stream,
// and an error wrapping ErrCorrupt for a damaged frame (reading may go on
// after it).
func (r *Reader) Next() (Envelope, error) {
	for {
		line, err := r.r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return Envelope{}, err
		}
		i := bytes.Index(line, []byte(framePrefix))
		if i < 0 {
			if err != nil {
				return Envelope{}, err
			}
			continue
		}
		return parseFrame(bytes.TrimRight(line[i+len(framePrefix):], "\r\n"))
	}
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
