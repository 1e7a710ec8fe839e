package session

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// binConn is a fakeConn that carries binary frames, like the WebSocket transports.
type binConn struct {
	*fakeConn
	transport.Peer
	mu     sync.Mutex
	binary [][]byte    // binary frames written
	binIn  chan []byte // binary frames from the peer
	order  []string    // "t" or "b" per frame written
}

func (c *binConn) WriteFrame(msgs [][]byte) error {
	c.mu.Lock()
	c.order = append(c.order, "t")
	c.mu.Unlock()
	return c.fakeConn.WriteFrame(msgs)
}

func (c *binConn) WriteBinary(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = append(c.order, "b")
	c.binary = append(c.binary, bytes.Clone(msg))
	return nil
}

func (c *binConn) ReadMessage() ([]byte, bool, error) {
	select {
	case f := <-c.in:
		return f, false, nil
	case f := <-c.binIn:
		return f, true, nil
	case <-c.closed:
		return nil, false, transport.ErrClosed
	}
}

// TestBinaryForms: a binary message goes in a binary frame of its own where the transport
// carries them and the peer said bin:1, as "b" to a text-only transport's bin:1 peer, and
// as "d" to a peer that did not say bin:1; text messages around it keep their order.
func TestBinaryForms(t *testing.T) {
	raw := []byte{0, '\n', 0xff}
	b64 := `"AAr/"`
	for _, tc := range []struct {
		name     string
		framer   bool
		bin      bool
		order    string
		contains string
	}{
		{"websocket bin", true, true, "tbt", ""},
		{"websocket old peer", true, false, "t", `"d":` + b64},
		{"sockjs bin", false, true, "", `"b":` + b64},
		{"sockjs old peer", false, false, "", `"d":` + b64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeConn()
				var conn transport.Conn = fc
				var bc *binConn
				if tc.framer {
					bc = &binConn{fakeConn: fc, binIn: make(chan []byte, 1)}
					bc.SetPeerBinary(tc.bin)
					conn = bc
				} else {
					conn = &peerConn{fakeConn: fc}
					transport.SetPeerBinary(conn, tc.bin)
				}
				s := New(context.Background(), "s1", Config{}, HandlerFunc(nop))
				_ = s.Emit("a", []byte("1"))
				_ = s.EmitBytes("file", raw)
				_ = s.Emit("c", []byte("3"))
				done := make(chan error, 1)
				go func() { done <- s.Serve(conn, nil) }()
				synctest.Wait()
				text := strings.Join(fc.frames(), "\n")
				if bc != nil && tc.bin {
					bc.mu.Lock()
					order, bin := strings.Join(bc.order, ""), bc.binary
					bc.mu.Unlock()
					if order != tc.order || len(bin) != 1 || !bytes.Equal(bin[0], events.AppendBinaryEvent(nil, "file", raw, 0)) {
						t.Fatalf("frames %q, binary %q", order, bin)
					}
				} else if !strings.Contains(text, tc.contains) || strings.Count(text, "\n") != 2 {
					t.Fatalf("text frames %q, want %s", text, tc.contains)
				}
				if _, out := s.Seq(); out != 3 {
					t.Fatalf("out seq %d, want 3", out)
				}
				s.Close(&events.CloseError{Code: events.CloseNormal})
				<-done
			})
		})
	}
}

// peerConn is a text-only fakeConn with a Peer, like the SockJS transports.
type peerConn struct {
	*fakeConn
	transport.Peer
}

// TestBinaryIn: a binary frame from the peer reaches the handler with its bytes, counted;
// a malformed one closes with 1002.
func TestBinaryIn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := make(chan events.Message, 1)
		c := &binConn{fakeConn: newFakeConn(), binIn: make(chan []byte, 2)}
		s := New(context.Background(), "s2", Config{}, HandlerFunc(func(_ context.Context, m *events.Message) { got <- *m }))
		res := make(chan error, 1)
		go func() { res <- s.Serve(c, nil) }()
		c.binIn <- events.AppendBinaryEvent(nil, "up", []byte{1, 2, 3}, 0)
		m := <-got
		if m.Name != "up" || !bytes.Equal(m.B, []byte{1, 2, 3}) || s.ReceivedSeq() != 1 {
			t.Fatalf("got %+v, seq %d", m, s.ReceivedSeq())
		}
		c.binIn <- []byte{1, 2, 3}
		if err := <-res; events.CloseCode(err) != events.CloseProtocolError {
			t.Fatalf("a malformed binary frame ended the session with %v, want 1002", err)
		}
	})
}

// TestRefuseWhenFull: with RefuseWhenFull a full queue refuses the message with
// ErrQueueFull and the session goes on.
func TestRefuseWhenFull(t *testing.T) {
	s := New(context.Background(), "s1", Config{MaxQueueBytes: 1100, RefuseWhenFull: true}, HandlerFunc(nop))
	if err := s.EmitBytes("a", make([]byte, 900)); err != nil {
		t.Fatal(err)
	}
	if err := s.EmitBytes("b", make([]byte, 100)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("emit into a full queue: %v, want ErrQueueFull", err)
	}
	if s.Err() != nil {
		t.Fatalf("the session ended: %v", s.Err())
	}
	if err := s.Emit("c", nil); err != nil {
		t.Fatalf("a small emit that fits: %v", err)
	}
	s.Abort(&events.CloseError{Code: events.CloseNormal})
}
