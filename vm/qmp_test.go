package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeQMP is QEMU's end of a QMP socketpair, scripted by the test.
type fakeQMP struct {
	t    *testing.T
	conn net.Conn
	in   *bufio.Reader
}

func newFakeQMP(t *testing.T, timeout time.Duration) (*qmpClient, *fakeQMP) {
	t.Helper()
	ours, theirs, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	q, err := newQMP(ours, timeout)
	ours.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.FileConn(theirs)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.close(); c.Close() })
	return q, &fakeQMP{t: t, conn: c, in: bufio.NewReader(c)}
}

func (f *fakeQMP) send(s string) {
	if _, err := f.conn.Write([]byte(s + "\r\n")); err != nil {
		f.t.Error(err)
	}
}

// expect reads one command, checks its name, and returns its id and
// arguments.
func (f *fakeQMP) expect(cmd string) (uint64, map[string]any) {
	line, err := f.in.ReadString('\n')
	if err != nil {
		f.t.Errorf("reading %s: %v", cmd, err)
		return 0, nil
	}
	var req struct {
		Execute   string         `json:"execute"`
		Arguments map[string]any `json:"arguments"`
		ID        uint64         `json:"id"`
	}
	if err := json.Unmarshal([]byte(line), &req); err != nil || req.Execute != cmd {
		f.t.Errorf("got %q (%v), want command %s", line, err, cmd)
	}
	return req.ID, req.Arguments
}

const greeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}`

func (f *fakeQMP) handshake() {
	f.send(greeting)
	id, _ := f.expect("qmp_capabilities")
	f.send(fmt.Sprintf(`{"return": {}, "id": %d}`, id))
}

func TestQMP(t *testing.T) {
	q, f := newFakeQMP(t, 2*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.handshake()
		// A reply after an event.
		id, args := f.expect("query-cpus-fast")
		if args != nil {
			t.Errorf("arguments %v, want none", args)
		}
		f.send(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {"offset": 0}}`)
		f.send(fmt.Sprintf(`{"return": [{"cpu-index": 1, "thread-id": 11}, {"cpu-index": 0, "thread-id": 10}], "id": %d}`, id))
		// An error reply.
		id, args = f.expect("chardev-send-break")
		if args["id"] != "nope" {
			t.Errorf("arguments %v", args)
		}
		f.send(fmt.Sprintf(`{"error": {"class": "DeviceNotFound", "desc": "Chardev 'nope' not found"}, "id": %d}`, id))
		// A reply written in two pieces.
		id, _ = f.expect("query-status")
		reply := fmt.Sprintf(`{"return": {"status": "running", "running": true}, "id": %d}`, id)
		f.conn.Write([]byte(reply[:10]))
		time.Sleep(50 * time.Millisecond)
		f.send(reply[10:])
	}()
	var cpus []struct {
		Index int `json:"cpu-index"`
		TID   int `json:"thread-id"`
	}
	if err := q.execute(t.Context(), "query-cpus-fast", nil, &cpus); err != nil {
		t.Fatal(err)
	}
	if len(cpus) != 2 || cpus[0].Index != 1 || cpus[1].TID != 10 {
		t.Errorf("reply %+v", cpus)
	}
	err := q.execute(t.Context(), "chardev-send-break", map[string]string{"id": "nope"}, nil)
	var qe *QMPError
	if !errors.As(err, &qe) || qe.Class != "DeviceNotFound" || !strings.Contains(err.Error(), "qmp chardev-send-break: QEMU replied DeviceNotFound: Chardev 'nope' not found") {
		t.Errorf("error reply: %v", err)
	}
	var st struct{ Status string }
	if err := q.execute(t.Context(), "query-status", nil, &st); err != nil || st.Status != "running" {
		t.Errorf("query-status = %+v, %v", st, err)
	}
	<-done
	// QEMU gone: every command fails, saying so.
	f.conn.Close()
	for i := 0; i < 2; i++ {
		if err := q.execute(t.Context(), "query-status", nil, nil); !errors.Is(err, ErrQMPClosed) {
			t.Errorf("after EOF: %v, want ErrQMPClosed", err)
		}
	}
}

// A command with no reply times out; its late reply is skipped and the
// next command gets its own.
func TestQMPTimeout(t *testing.T) {
	q, f := newFakeQMP(t, 200*time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.handshake()
		slow, _ := f.expect("query-status")
		time.Sleep(400 * time.Millisecond) // the client has given up
		id, _ := f.expect("query-name")
		f.send(fmt.Sprintf(`{"return": {"status": "late"}, "id": %d}`, slow))
		f.send(fmt.Sprintf(`{"return": {"name": "vm"}, "id": %d}`, id))
	}()
	start := time.Now()
	err := q.execute(t.Context(), "query-status", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "no reply within 200ms") {
		t.Fatalf("slow command: %v, want a timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timeout took %s", d)
	}
	q.timeout = 5 * time.Second
	var name struct{ Name string }
	if err := q.execute(t.Context(), "query-name", nil, &name); err != nil || name.Name != "vm" {
		t.Errorf("next command = %+v, %v", name, err)
	}
	<-done
}

// A greeting that does not come in time can be waited for again; a
// canceled context interrupts a command at once.
func TestQMPGreetingAndCancel(t *testing.T) {
	q, f := newFakeQMP(t, 100*time.Millisecond)
	if err := q.execute(t.Context(), "query-status", nil, nil); err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("no greeting: %v", err)
	}
	go func() {
		f.handshake()
		f.expect("query-status") // never answered
	}()
	q.timeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := q.execute(ctx, "query-status", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("canceled command: %v after %s", err, time.Since(start))
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if err := q.execute(ctx, "query-status", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("command with a canceled context: %v", err)
	}
}

func TestQMPNotAGreeting(t *testing.T) {
	q, f := newFakeQMP(t, time.Second)
	f.send(`{"return": {}}`)
	for i := 0; i < 2; i++ {
		if err := q.execute(t.Context(), "query-status", nil, nil); err == nil || !strings.Contains(err.Error(), "not a QMP greeting") {
			t.Errorf("bad greeting: %v", err)
		}
	}
}
