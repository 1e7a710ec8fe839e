package sockhop_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
)

// The server's cost per echo round trip and per new WebSocket session, the figures of
// make bench's echo and connection-rate scenarios (issue 21), measured in process with a
// raw gorilla client over loopback: allocations per operation (-benchmem) count the
// server's and this minimal client's, whose share does not change between versions of the
// server. Run them with
//
//	go test -run XXX -bench 'EchoRoundTrip|Handshake' -benchmem .

// benchServer serves the bench peer's echo handler (an OnRequest with json.RawMessage in
// and out) with the bench peer's options, and returns the ws:// URL of its WebSocket.
func benchServer(b *testing.B) string {
	srv, err := sockhop.New(sockhop.Options{MaxQueueBytes: 8 << 20, MaxSessionsPerIP: -1, ConnectRate: -1, MessageRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
		return v, nil
	})
	return "ws" + strings.TrimPrefix(serveAt(b, srv, httptest.NewUnstartedServer(nil)), "http") + "/ws"
}

var benchDialer = websocket.Dialer{Subprotocols: []string{"sockhop.v1"}}

// benchHello opens a session on a new connection: hello, then the welcome.
func benchHello(b *testing.B, url string) *websocket.Conn {
	c, _, err := benchDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"t":"hello","v":1}`)); err != nil {
		b.Fatal(err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil || !strings.HasPrefix(string(msg), `{"t":"welcome"`) {
		b.Fatalf("welcome: %s %v", msg, err)
	}
	return c
}

// BenchmarkEchoRoundTrip: one client's request with a 32-byte string, answered by the
// echo handler's ack, as make bench's echo sends it. The client reports what it received
// every 32 acks, as the real clients do.
func BenchmarkEchoRoundTrip(b *testing.B) {
	url := benchServer(b)
	c := benchHello(b, url)
	defer c.Close()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := uint64(i + 1)
		buf = append(buf[:0], `{"t":"ev","n":"echo","d":"0123456789abcdef0123456789abcdef","id":`...)
		buf = strconv.AppendUint(buf, id, 10)
		buf = append(buf, '}')
		if id%32 == 0 {
			buf = append(buf, `
{"t":"pong","r":`...)
			buf = strconv.AppendUint(buf, id-1, 10)
			buf = append(buf, '}')
		}
		if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
			b.Fatal(err)
		}
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(string(msg), `{"t":"ack"`) {
				break
			}
		}
	}
}

// BenchmarkHandshake: a new WebSocket connection up to its welcome, held open as make
// bench's connection-rate scenario holds them (run it with a fixed -benchtime such as
// 2000x: every connection stays open until the end).
func BenchmarkHandshake(b *testing.B) {
	url := benchServer(b)
	conns := make([]*websocket.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		conns = append(conns, benchHello(b, url))
	}
}
