package sockhop_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/transport"
)

func dialHello(t *testing.T, url, hello string) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial.Dial(ctx, url, transport.WebSocket, dial.Options{Hello: hello})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(1000, "") })
	return &rawConn{t: t, Conn: c}
}

// TestHelloInUpgrade: a new session's hello may ride in the WebSocket upgrade as a
// subprotocol (PROTOCOL.md §3); the server answers with it and sends the welcome unasked.
func TestHelloInUpgrade(t *testing.T) {
	_, url := echoServer(t, sockhop.Options{}, nil)

	t.Run("taken", func(t *testing.T) {
		c := dialHello(t, url, events.HelloProtocol(true, 10_000))
		if !dial.HelloTaken(c.Conn) {
			t.Fatal("the server did not answer with the hello subprotocol")
		}
		m, err := c.nextTimeout(5 * time.Second)
		if err != nil || m.T != events.TypeWelcome {
			t.Fatalf("first message %+v, %v; want a welcome", m, err)
		}
		if m.Ping != 10_000 || m.Resumed || m.SID == "" || m.Token == "" {
			t.Errorf("welcome %+v: want ping 10000 (the hello's), a new session", m)
		}
		c.send(`{"t":"ev","n":"echo","d":"hi","id":1}`)
		if m, err := c.nextTimeout(5 * time.Second); err != nil || m.T != events.TypeAck || string(m.Data) != `"hi"` {
			t.Fatalf("echo: %+v, %v", m, err)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		// Not one HelloProtocol makes: the server picks sockhop.v1 and waits for a hello.
		c := dialHello(t, url, "sockhop.v1.hello.ping007")
		if dial.HelloTaken(c.Conn) {
			t.Fatal("a malformed hello subprotocol was taken")
		}
		c.handshake()
	})

	t.Run("hello message too", func(t *testing.T) {
		c := dialHello(t, url, events.HelloProtocol(false, 0))
		if m, err := c.nextTimeout(5 * time.Second); err != nil || m.T != events.TypeWelcome {
			t.Fatalf("first message %+v, %v; want a welcome", m, err)
		}
		c.send(`{"t":"hello","v":1}`)
		if code := c.closeCode(); code != events.CloseProtocolError {
			t.Fatalf("a second hello closed with %d, want %d", code, events.CloseProtocolError)
		}
	})
}

// TestClientHelloInUpgrade: the Go client offers its hello in the upgrade for a new
// session without auth, and as a message otherwise.
func TestClientHelloInUpgrade(t *testing.T) {
	var mu sync.Mutex
	var offered []string
	srv, err := sockhop.New(sockhop.Options{
		Authenticate: func(r *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
			var id sockhop.Identity
			_ = json.Unmarshal(auth, &id.UserID)
			return id, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v any) (any, error) {
		return v, nil
	})
	url := serveWrapped(t, srv, httptest.NewUnstartedServer(nil), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "" {
				mu.Lock()
				offered = append(offered, r.Header.Get("Sec-Websocket-Protocol"))
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	for _, tc := range []struct {
		name string
		auth any
		want string
	}{
		{"no auth", nil, "sockhop.v1.hello.bin, sockhop.v1"},
		{"auth", "ann", "sockhop.v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			offered = nil
			mu.Unlock()
			c := dialClient(t, url, transport.WebSocket, client.Options{Auth: tc.auth})
			reply, err := c.EmitWithAck(context.Background(), "echo", 7)
			if err != nil || string(reply) != "7" {
				t.Fatalf("echo: %s, %v", reply, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(offered) != 1 || offered[0] != tc.want {
				t.Errorf("upgrades offered %q, want one offering %q", offered, tc.want)
			}
		})
	}
}
