package sockhop_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
)

// memNet is an in-memory network: a net.Listener whose connections are net.Pipe pairs
// made by its DialContext. A server and its clients on a memNet can run inside a
// testing/synctest bubble, where the clock is fake and moves only when every goroutine
// waits: a test then needs no sleeps and no luck with the scheduler. (A real socket is
// not allowed in a bubble: a goroutine blocked on it would keep the clock still.)
type memNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	port  atomic.Int32 // of the last connection's client end
}

func newMemNet() *memNet {
	return &memNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (n *memNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.done:
		return nil, net.ErrClosed
	}
}

func (n *memNet) Close() error {
	n.once.Do(func() { close(n.done) })
	return nil
}

func (n *memNet) Addr() net.Addr { return memAddr{} }

// DialContext connects to the listener, whatever the address. The server sees the
// connection come from 127.0.0.1, on a port of its own.
func (n *memNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
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

// loopConn is the server end of a memNet connection.
type loopConn struct {
	net.Conn
	remote net.Addr
}

func (c loopConn) RemoteAddr() net.Addr { return c.remote }

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

// memServer is echoServer on a memNet: the server is mounted at /rt of an http.Server
// that serves the memNet, and the returned memClient dials it. Everything stops with the
// test. Call it inside the bubble.
func memServer(t *testing.T, opts sockhop.Options, setup func(*sockhop.Server)) (*sockhop.Server, *memClient) {
	t.Helper()
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v any) (any, error) {
		return v, nil
	})
	if setup != nil {
		setup(srv)
	}
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	n := newMemNet()
	hs := &http.Server{Handler: mux}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(n)
	}()
	hc := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		_ = hs.Close()
		<-served
		hc.CloseIdleConnections()
		// sockjs-go forgets a closed session after its DisconnectDelay, and the bubble's
		// clock stops when the test returns: let that time pass now (it costs nothing).
		time.Sleep(3 * max(opts.SockJSDisconnectDelay, 5*time.Second))
	})
	return srv, &memClient{net: n, http: hc, url: "http://mem/rt"}
}

// memClient dials a memServer.
type memClient struct {
	net  *memNet
	http *http.Client
	url  string
}

// dialRaw is dialRaw on the memNet.
func (mc *memClient) dialRaw(t *testing.T, tr string) *rawConn {
	t.Helper()
	c, err := mc.dial(t, tr, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", tr, err)
	}
	return c
}

// dial opens a raw connection with header on every request; it is closed with the test.
func (mc *memClient) dial(t *testing.T, tr string, header http.Header) (*rawConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var c dial.Conn
	var err error
	if tr == client.WebSocket {
		// internal/dial cannot take a dialer for WebSocket: a small one of our own.
		d := websocket.Dialer{NetDialContext: mc.net.DialContext, Subprotocols: []string{"sockhop.v1"}}
		var ws *websocket.Conn
		var resp *http.Response
		ws, resp, err = d.DialContext(ctx, "ws://mem/rt/ws", header)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err == nil {
			c = &memWS{c: ws}
		}
	} else {
		c, err = dial.Dial(ctx, mc.url, tr, dial.Options{HTTPClient: mc.http, Header: header})
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close(1000, "") })
	return &rawConn{t: t, Conn: c}, nil
}

// echo checks that c, after its handshake, gets its echo.
func (c *rawConn) echo() {
	c.t.Helper()
	c.send(`{"t":"ev","n":"echo","d":"ok","id":1000}`)
	for {
		m, err := c.nextTimeout(10 * time.Second)
		switch {
		case err != nil:
			c.t.Fatalf("echo: %v", err)
		case m.T == "pong": // the server acknowledging what arrived
			continue
		case m.T != "ack" || m.ID != 1000 || m.Err != nil || string(m.Data) != `"ok"`:
			c.t.Fatalf("echo: %+v", m)
		}
		return
	}
}

// memWS is a client WebSocket connection speaking sockhop frames; it implements dial.Conn.
type memWS struct {
	c *websocket.Conn
}

func (c *memWS) Name() string { return client.WebSocket }

func (c *memWS) ReadFrame() ([]byte, error) {
	_, p, err := c.c.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return nil, &events.CloseError{Code: ce.Code, Reason: ce.Text}
	}
	return p, err
}

func (c *memWS) WriteFrame(msgs [][]byte) error {
	return c.c.WriteMessage(websocket.TextMessage, bytes.Join(msgs, []byte{'\n'}))
}

func (c *memWS) Close(code int, reason string) error {
	_ = c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	return c.c.Close()
}
