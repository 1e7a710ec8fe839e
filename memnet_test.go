package sockhop_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/testutil"
)

// memNet is the in-memory network the bubble tests run on (see testutil.MemNet).
type memNet = testutil.MemNet

func newMemNet() *memNet { return testutil.NewMemNet() }

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
