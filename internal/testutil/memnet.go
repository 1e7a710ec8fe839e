package testutil

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// MemNet is an in-memory network: a net.Listener whose connections are net.Pipe pairs
// made by its DialContext. A server and its clients on a MemNet can run inside a
// testing/synctest bubble, where the clock is fake and moves only when every goroutine
// waits: a test then needs no sleeps and no luck with the scheduler. (A real socket is
// not allowed in a bubble: a goroutine blocked on it would keep the clock still.)
type MemNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	port  atomic.Int32 // of the last connection's client end
}

// NewMemNet returns an open MemNet.
func NewMemNet() *MemNet {
	return &MemNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next connection made by DialContext.
func (n *MemNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and DialContext.
func (n *MemNet) Close() error {
	n.once.Do(func() { close(n.done) })
	return nil
}

// Addr is the listener's address, "mem".
func (n *MemNet) Addr() net.Addr { return memAddr{} }

// DialContext connects to the listener, whatever the address. The server sees the
// connection come from 127.0.0.1, on a port of its own.
func (n *MemNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	port := int(n.port.Add(1))
	select {
	case n.conns <- loopConn{Conn: s, remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}:
		return c, nil
	case <-n.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loopConn is the server end of a MemNet connection.
type loopConn struct {
	net.Conn
	remote net.Addr
}

func (c loopConn) RemoteAddr() net.Addr { return c.remote }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }
