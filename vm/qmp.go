package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// QMPError is an error reply of QEMU's machine protocol.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return fmt.Sprintf("QEMU replied %s: %s", e.Class, e.Desc) }

// ErrQMPClosed is wrapped by the error of a QMP command once the connection
// is gone (QEMU exited, or the VM was reaped).
var ErrQMPClosed = errors.New("QMP connection closed")

// qmpTimeout bounds one QMP command, greeting included.
const qmpTimeout = 10 * time.Second

// qmpClient is a minimal client of QEMU's machine protocol on a connected
// stream: it reads the greeting and negotiates capabilities on first use,
// then runs one command at a time, matching each reply by its id and
// skipping asynchronous events and replies to commands that timed out.
type qmpClient struct {
	mu      sync.Mutex
	conn    net.Conn
	timeout time.Duration
	greeted bool   // the greeting has been read
	ready   bool   // qmp_capabilities accepted
	pending []byte // a line read in part when a command timed out
	nextID  uint64
	broken  error // sticky: the stream ended or failed
}

// newQMP makes a client of the stream f (a socket); f may be closed after.
func newQMP(f *os.File, timeout time.Duration) (*qmpClient, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	return &qmpClient{conn: c, timeout: timeout}, nil
}

// close closes the connection; commands fail from then on.
func (q *qmpClient) close() error { return q.conn.Close() }

// qmpMessage is anything QEMU sends: the greeting, a reply or an event.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Event  string          `json:"event"`
	Return json.RawMessage `json:"return"`
	Error  *QMPError       `json:"error"`
	ID     *uint64         `json:"id"`
}

// execute runs cmd with args (nil for none) and decodes the reply's
// "return" into result (nil to ignore it). It gives up after the client's
// timeout or when ctx is done.
func (q *qmpClient) execute(ctx context.Context, cmd string, args, result any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.execLocked(ctx, cmd, args, result); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	return nil
}

func (q *qmpClient) execLocked(ctx context.Context, cmd string, args, result any) error {
	if q.broken != nil {
		return q.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(q.timeout)
	d, ctxFirst := ctx.Deadline()
	if ctxFirst = ctxFirst && d.Before(deadline); ctxFirst {
		deadline = d
	}
	if err := q.conn.SetDeadline(deadline); err != nil {
		return q.fail(err)
	}
	// A canceled ctx interrupts the read or write at once.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		_ = q.conn.SetDeadline(time.Now())
	})
	defer func() {
		if !stop() {
			<-interrupted
		}
	}()
	err := q.roundTrip(cmd, args, result)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if ctxFirst {
			return context.DeadlineExceeded
		}
		return fmt.Errorf("no reply within %s: %w", q.timeout, err)
	}
	return err
}

func (q *qmpClient) roundTrip(cmd string, args, result any) error {
	if !q.greeted {
		// A greeting that is late can be waited for again.
		msg, err := q.read()
		if err != nil {
			return fmt.Errorf("greeting: %w", err)
		}
		if msg.QMP == nil {
			return q.fail(fmt.Errorf("greeting: not a QMP greeting"))
		}
		q.greeted = true
	}
	if !q.ready {
		// Negotiation cannot be retried (QEMU refuses a second one), so
		// its failure ends the client.
		if err := q.call("qmp_capabilities", nil, nil); err != nil {
			return q.fail(fmt.Errorf("qmp_capabilities: %w", err))
		}
		q.ready = true
	}
	return q.call(cmd, args, result)
}

func (q *qmpClient) call(cmd string, args, result any) error {
	q.nextID++
	id := q.nextID
	req := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
		ID        uint64 `json:"id"`
	}{cmd, args, id}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode arguments: %w", err)
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		// A write cut short leaves the stream unusable.
		return q.fail(err)
	}
	for {
		msg, err := q.read()
		if err != nil {
			return err
		}
		switch {
		case msg.Event != "":
			continue // asynchronous event
		case msg.ID == nil || *msg.ID != id:
			continue // the reply to a command that timed out
		case msg.Error != nil:
			return msg.Error
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(msg.Return, result); err != nil {
			return fmt.Errorf("decode reply %s: %w", msg.Return, err)
		}
		return nil
	}
}

// read returns the next message (QEMU sends one JSON object per line). A
// line cut short by a deadline is kept for the next read.
func (q *qmpClient) read() (qmpMessage, error) {
	var buf [4096]byte
	for {
		if i := bytes.IndexByte(q.pending, '\n'); i >= 0 {
			line := bytes.TrimSpace(q.pending[:i])
			q.pending = q.pending[i+1:]
			if len(line) == 0 {
				continue
			}
			var msg qmpMessage
			if err := json.Unmarshal(line, &msg); err != nil {
				return qmpMessage{}, q.fail(fmt.Errorf("bad message %q: %w", line, err))
			}
			return msg, nil
		}
		if len(q.pending) > 64<<20 {
			return qmpMessage{}, q.fail(errors.New("message longer than 64 MiB"))
		}
		n, err := q.conn.Read(buf[:])
		q.pending = append(q.pending, buf[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return qmpMessage{}, err
			}
			return qmpMessage{}, q.fail(err)
		}
	}
}

// fail marks the stream broken: every later command returns err.
func (q *qmpClient) fail(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		err = ErrQMPClosed
	}
	q.broken = err
	return err
}
