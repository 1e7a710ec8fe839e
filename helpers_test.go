package sockhop_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv("SOCKHOP_ATTACK"); spec != "" { // the attacker child of BenchmarkEchoUnderAttack
		tr, url, _ := strings.Cut(spec, " ")
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		attack(ctx, tr, url)
		return
	}
	testutil.Main(m)
}

var transports = []string{client.WebSocket, client.XHRStreaming, client.XHRPolling}

// forEachTransport runs f as a subtest on every transport, as every behaviour test must.
func forEachTransport(t *testing.T, f func(t *testing.T, tr string)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

// testServer starts a sockhop server mounted at /rt of an httptest server; setup registers
// handlers. It returns the server and the client base URL; both stop with the test.
func testServer(t *testing.T, opts sockhop.Options, setup func(srv *sockhop.Server)) (*sockhop.Server, string) {
	t.Helper()
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(srv)
	}
	return srv, serveAt(t, srv, httptest.NewUnstartedServer(nil))
}

// serveAt mounts srv at /rt of hs, starts hs, and returns the client base URL; srv shuts
// down and hs closes with the test.
func serveAt(t testing.TB, srv *sockhop.Server, hs *httptest.Server) string {
	t.Helper()
	return serveWrapped(t, srv, hs, func(h http.Handler) http.Handler { return h })
}

// serveWrapped is serveAt with wrap around the mux: a test that watches the requests.
func serveWrapped(t testing.TB, srv *sockhop.Server, hs *httptest.Server, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	hs.Config.Handler = wrap(mux)
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL + "/rt"
}

// dialClient connects a Go client on one transport, without reconnecting, closed with
// the test.
func dialClient(t *testing.T, url, tr string, opts client.Options) *client.Client {
	t.Helper()
	opts.Transports = []string{tr}
	opts.NoReconnect = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", tr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawConn is a transport connection that speaks frames by hand, for protocol and bad
// input tests.
type rawConn struct {
	t *testing.T
	dial.Conn
	buf []*events.Message // messages read but not returned yet
}

func dialRaw(t *testing.T, url, tr string, header http.Header) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial.Dial(ctx, url, tr, dial.Options{Header: header})
	if err != nil {
		t.Fatalf("dial %s: %v", tr, err)
	}
	t.Cleanup(func() { _ = c.Close(1000, "") })
	return &rawConn{t: t, Conn: c}
}

func (c *rawConn) send(frame string) {
	c.t.Helper()
	if err := c.WriteFrame([][]byte{[]byte(frame)}); err != nil {
		c.t.Fatalf("send %q: %v", frame, err)
	}
}

// next returns the next message that is not a server ping, with the error that ended
// the connection instead when it ended.
func (c *rawConn) next() (*events.Message, error) {
	for {
		if len(c.buf) > 0 {
			m := c.buf[0]
			c.buf = c.buf[1:]
			return m, nil
		}
		frame, err := c.ReadFrame()
		if err != nil {
			return nil, err
		}
		var out []*events.Message
		_ = events.Lines(frame, func(l []byte) error {
			m, err := events.Decode(l)
			if err != nil {
				c.t.Fatalf("server sent a bad message %q: %v", l, err)
			}
			if m.T != events.TypePing {
				out = append(out, &m)
			}
			return nil
		})
		c.buf = out
	}
}

// nextTimeout is next, failing the test after d.
func (c *rawConn) nextTimeout(d time.Duration) (*events.Message, error) {
	type res struct {
		m   *events.Message
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, err := c.next()
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(d):
		c.t.Fatalf("no message within %v", d)
		return nil, nil
	}
}

// handshake sends hello and expects welcome.
func (c *rawConn) handshake() *events.Message {
	c.t.Helper()
	c.send(`{"t":"hello","v":1}`)
	m, err := c.next()
	if err != nil || m.T != events.TypeWelcome {
		c.t.Fatalf("handshake: %v %+v", err, m)
	}
	return m
}

// closeCode waits for the connection to end (bounded) and returns its close code, taken
// from a close message or from the transport's close.
func (c *rawConn) closeCode() int {
	c.t.Helper()
	done := make(chan int, 1)
	go func() {
		for {
			m, err := c.next()
			if err != nil {
				done <- events.CloseCode(err)
				return
			}
			if m.T == events.TypeClose {
				done <- m.Code
				return
			}
		}
	}()
	select {
	case code := <-done:
		return code
	case <-time.After(15 * time.Second):
		c.t.Fatal("connection did not close within 15s")
		return 0
	}
}

// collector gathers events a client receives.
type collector struct {
	ch chan json.RawMessage
}

func collect(c *client.Client, name string, buf int) *collector {
	col := &collector{ch: make(chan json.RawMessage, buf)}
	c.On(name, func(ctx context.Context, data json.RawMessage) { col.ch <- data })
	return col
}

func (col *collector) next(t *testing.T) json.RawMessage {
	t.Helper()
	select {
	case d := <-col.ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return nil
	}
}

// newHTTPServer serves srv at /rt of a new httptest server, closed (after a Shutdown of
// srv) with the test.
func newHTTPServer(t *testing.T, srv *sockhop.Server) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs
}
