package ws

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// TestWriteDeadlineSlack: the socket's write deadline is set again only when the one
// asked for is not within [its own - slack, its own], and then to the one asked for plus
// slack; zero clears it.
func TestWriteDeadlineSlack(t *testing.T) {
	a, _ := tcpPair(t)
	c := &writeConn{TCPConn: a, started: true, slack: time.Second}
	t0 := time.Now().Add(10 * time.Second)
	steps := []struct {
		ask, want time.Time
	}{
		{t0, t0.Add(time.Second)},                                          // none yet: set, with slack
		{t0.Add(500 * time.Millisecond), t0.Add(time.Second)},              // within: kept
		{t0.Add(time.Second), t0.Add(time.Second)},                         // the edge: kept
		{t0.Add(1001 * time.Millisecond), t0.Add(2001 * time.Millisecond)}, // past it: set again
		{t0.Add(-5 * time.Second), t0.Add(-4 * time.Second)},               // much earlier: set
		{time.Time{}, time.Time{}},                                         // cleared
		{t0, t0.Add(time.Second)},
	}
	for i, st := range steps {
		if err := c.SetWriteDeadline(st.ask); err != nil {
			t.Fatal(err)
		}
		if !c.deadline.Equal(st.want) {
			t.Fatalf("step %d: asked %v, socket deadline %v, want %v", i, st.ask.Sub(t0), c.deadline.Sub(t0), st.want.Sub(t0))
		}
	}
}

// TestWriteDeadlineStalls: a write to a peer that reads nothing still ends with a timeout,
// and not before the deadline asked for.
func TestWriteDeadlineStalls(t *testing.T) {
	a, _ := tcpPair(t)
	c := &writeConn{TCPConn: a, started: true, slack: 50 * time.Millisecond}
	buf := make([]byte, 1<<20)
	var asked time.Time
	var err error
	for range 64 { // 64 MiB: far past what the socket buffers hold
		asked = time.Now().Add(200 * time.Millisecond)
		if err = c.SetWriteDeadline(asked); err != nil {
			t.Fatal(err)
		}
		if _, err = c.Write(buf); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled write ended with %v, want a deadline exceeded", err)
	}
	if now := time.Now(); now.Before(asked) {
		t.Fatalf("stalled write timed out %v before the deadline asked for", asked.Sub(now))
	}
}
