package sockhop_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

func TestPerIPLimit(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{MaxSessionsPerIP: 2, TrustedProxies: []string{"127.0.0.1"}}, nil)
		dialClient(t, url, tr, client.Options{})
		dialClient(t, url, tr, client.Options{})
		wantTooMany(t, url, tr)
		// Behind a trusted proxy, each forwarded client has its own count.
		for _, ip := range []string{"198.51.100.7", "198.51.100.8"} {
			c := dialClient(t, url, tr, client.Options{Header: http.Header{"X-Forwarded-For": {"203.0.113.1, " + ip}}})
			mustEcho(t, c)
		}
	})
}

// TestConnectRate runs in a synctest bubble on an in-memory network: the pacer's turns,
// holds and retry hints are exact on the bubble's clock.
func TestConnectRate(t *testing.T) {
	t.Run("refused", func(t *testing.T) { forEachTransport(t, connectRefused) })
	t.Run("paced", func(t *testing.T) { forEachTransport(t, connectPaced) })
	t.Run("abuse", func(t *testing.T) { forEachTransport(t, connectAbuse) })
}

// other is a client address behind the trusted proxy that memNet connections come from.
var other = http.Header{"X-Forwarded-For": {"198.51.100.9"}}

func connectRefused(t *testing.T, tr string) {
	synctest.Test(t, func(t *testing.T) {
		// A turn every 100 s and a second's wait at most: the second connection is held
		// that second, then refused with a hint to retry 98 s later, when its turn is a
		// second away.
		_, mc := memServer(t, sockhop.Options{ConnectRate: 0.01, ConnectBurst: 1, TrustedProxies: []string{"127.0.0.1"}}, nil)
		mustConnect(t, mc, tr, nil)
		start := time.Now()
		wantRefused(t, mc, tr, 98*time.Second)
		if held := time.Since(start); held != time.Second {
			t.Fatalf("the refused connection was held %v, want 1s", held)
		}
		// Other addresses have budgets of their own.
		mustConnect(t, mc, tr, other)
	})
}

func connectAbuse(t *testing.T, tr string) {
	synctest.Test(t, func(t *testing.T) {
		// A turn a second, three at once; a connection closed for abuse costs a second
		// more. Two such connections leave the address a turn in debt: the next one's turn
		// is two seconds away, so it is held a second and refused with the shortest hint.
		ended := make(chan struct{}, 2)
		_, mc := memServer(t, sockhop.Options{ConnectRate: 1, ConnectBurst: 3, TrustedProxies: []string{"127.0.0.1"}}, func(srv *sockhop.Server) {
			srv.OnDisconnect(func(*sockhop.Session, error) { ended <- struct{}{} })
		})
		for range 2 {
			c := mc.dialRaw(t, tr)
			c.handshake()
			c.send(`{"t":"zap"}`)
			if got := c.closeCode(); got != sockhop.CloseProtocolError {
				t.Fatalf("closed with %d, want 1002", got)
			}
			<-ended // the server has charged the address when the session has ended
		}
		// Without the charge a third connection would be within the burst.
		wantRefused(t, mc, tr, 100*time.Millisecond)
		mustConnect(t, mc, tr, other)
	})
}

func connectPaced(t *testing.T, tr string) {
	synctest.Test(t, func(t *testing.T) {
		// Past the burst, connections wait their turn, 50 ms apart, rather than fail.
		_, mc := memServer(t, sockhop.Options{ConnectRate: 20, ConnectBurst: 1}, nil)
		start := time.Now()
		type dialed struct {
			c   *rawConn
			at  time.Duration
			err error
		}
		ch := make(chan dialed, 4)
		for range 4 {
			go func() {
				c, err := mc.dial(t, tr, nil)
				ch <- dialed{c, time.Since(start), err}
			}()
		}
		for i := range 4 {
			d := <-ch // in the order they got in
			if want := time.Duration(i) * 50 * time.Millisecond; d.err != nil || d.at < want-time.Millisecond || d.at > want+time.Millisecond {
				t.Fatalf("connection %d in after %v (%v), want %v", i+1, d.at, d.err, want)
			}
			d.c.handshake()
			d.c.echo()
		}
	})
}

// mustConnect opens a session on mc with header and checks it answers.
func mustConnect(t *testing.T, mc *memClient, tr string, header http.Header) {
	t.Helper()
	c, err := mc.dial(t, tr, header)
	if err != nil {
		t.Fatalf("dial %s: %v", tr, err)
	}
	c.handshake()
	c.echo()
}

// wantRefused dials mc from 127.0.0.1 and wants the connection refused for its rate, with
// a retry hint of retry: on WebSocket, a close message (1013) after the upgrade; on SockJS,
// 429 with Retry-After (whole seconds, rounded up).
func wantRefused(t *testing.T, mc *memClient, tr string, retry time.Duration) {
	t.Helper()
	c, err := mc.dial(t, tr, nil)
	if tr == client.WebSocket {
		if err != nil {
			t.Fatalf("WebSocket upgrade: %v, want a close message after it", err)
		}
		if m, err := c.next(); err != nil || m.T != "close" || m.Code != sockhop.CloseTryAgainLater || m.Retry != retry.Milliseconds() {
			t.Fatalf("WebSocket connection: %+v %v, want close 1013 with a retry hint of %v", m, err, retry)
		}
		return
	}
	var he *dial.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.RetryAfter != (retry+time.Second-1).Truncate(time.Second) {
		t.Fatalf("SockJS connection: %v, want 429 with a Retry-After of %v", err, retry)
	}
}

func TestMaxRooms(t *testing.T) {
	srv, url := echoServer(t, sockhop.Options{MaxRoomsPerSession: 3}, nil)
	joined := make(chan error, 1)
	sockhop.On(srv, "join5", func(ctx context.Context, s *sockhop.Session, v any) error {
		var err error
		for i := range 5 {
			if err = s.Join(ctx, fmt.Sprint("r", i)); err != nil {
				break
			}
		}
		joined <- err
		return nil
	})
	c := dialClient(t, url, client.WebSocket, client.Options{})
	_ = c.Emit(context.Background(), "join5", nil)
	if err := <-joined; !errors.Is(err, sockhop.ErrTooManyRooms) {
		t.Fatalf("fourth Join: %v, want ErrTooManyRooms", err)
	}
	if n := len(srv.Rooms()); n != 3 {
		t.Fatalf("%d rooms, want 3", n)
	}
}

// TestHostileFrames covers frames the bad-input table cannot express the same way on
// every transport.
func TestHostileFrames(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{}, nil)
		bystander := dialClient(t, url, tr, client.Options{})
		deep := dialRaw(t, url, tr, nil)
		deep.handshake()
		deep.send(`{"t":"ev","n":"echo","d":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)
		if got := deep.closeCode(); got != sockhop.CloseProtocolError {
			t.Fatalf("deeply nested JSON closed with %d, want 1002", got)
		}
		if tr == client.WebSocket {
			bin := dialRaw(t, url, tr, nil)
			bin.handshake()
			_ = bin.Conn.(interface{ WriteRaw(int, []byte) error }).WriteRaw(websocket.BinaryMessage, []byte{1, 2, 3})
			if got := bin.closeCode(); got != sockhop.CloseProtocolError {
				t.Fatalf("binary frame without a header closed with %d, want 1002", got)
			}
			first := dialRaw(t, url, tr, nil)
			_ = first.Conn.(interface{ WriteRaw(int, []byte) error }).WriteRaw(websocket.BinaryMessage, []byte("{\"t\":\"hello\",\"v\":1}\n"))
			if got := first.closeCode(); got != sockhop.CloseUnsupportedData {
				t.Fatalf("binary frame before the hello closed with %d, want 1003", got)
			}
		} else {
			// xhr_send bodies that are not a JSON array of strings.
			for _, body := range []string{`{"a":1}`, `[1,2]`, `["ok"`, ``} {
				c := dialRaw(t, url, tr, nil)
				c.handshake()
				err := c.Conn.(interface{ WriteRaw([]byte) error }).WriteRaw([]byte(body))
				var he *dial.HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
					t.Fatalf("xhr_send %q: %v, want 400", body, err)
				}
			}
		}
		mustEcho(t, bystander)
	})
}

// TestInterleavedSends: two SockJS sessions' xhr_sends interleaved never mix.
func TestInterleavedSends(t *testing.T) {
	for _, tr := range []string{client.XHRStreaming, client.XHRPolling} {
		t.Run(tr, func(t *testing.T) {
			_, url := echoServer(t, sockhop.Options{MessageRate: -1}, nil)
			a, b := dialRaw(t, url, tr, nil), dialRaw(t, url, tr, nil)
			a.handshake()
			b.handshake()
			for i := 1; i <= 50; i++ {
				a.send(fmt.Sprintf(`{"t":"ev","n":"echo","d":"a%d","id":%d}`, i, i))
				b.send(fmt.Sprintf(`{"t":"ev","n":"echo","d":"b%d","id":%d}`, i, i))
			}
			for name, c := range map[string]*rawConn{"a": a, "b": b} {
				for i := 1; i <= 50; i++ {
					m, err := c.nextTimeout(10 * time.Second)
					for err == nil && m.T == "pong" { // acknowledgements of what we sent
						m, err = c.nextTimeout(10 * time.Second)
					}
					if err != nil || m.ID != uint64(i) || string(m.Data) != fmt.Sprintf(`"%s%d"`, name, i) {
						t.Fatalf("session %s, reply %d: %+v %v", name, i, m, err)
					}
				}
			}
		})
	}
}

// wantTooMany wants a new session from 127.0.0.1 refused for the address's session limit:
// 1013 on WebSocket, 429 on SockJS.
func wantTooMany(t *testing.T, url, tr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, NoReconnect: true})
	var he *dial.HTTPError
	switch {
	case tr == client.WebSocket && sockhop.CloseCode(err) != sockhop.CloseTryAgainLater:
		t.Fatalf("one session too many on WebSocket: %v, want close 1013", err)
	case tr != client.WebSocket && (!errors.As(err, &he) || he.Status != http.StatusTooManyRequests):
		t.Fatalf("one session too many on SockJS: %v, want 429", err)
	}
}

// TestPerIPLimitResume: an address at its session limit can still resume its sessions
// (a resume is not a new session), and still cannot open a new one.
func TestPerIPLimitResume(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{MaxSessionsPerIP: 2}, nil)
		p, err := faultproxy.New(strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/rt"))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		purl := "http://" + p.Addr() + "/rt"
		back, gone := make(chan string, 4), make(chan struct{}, 4)
		var ids []string
		var clients []*client.Client
		for range 2 {
			c := client.New(purl, client.Options{Transports: []string{tr}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			c.OnConnect(func() { back <- c.SessionID() })
			c.OnDisconnect(func(error) { gone <- struct{}{} })
			c.OnResumeFailed(func() { t.Errorf("resume failed: a new session instead of %s", c.SessionID()) })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.Connect(ctx)
			cancel()
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(func() { _ = c.Close() })
			<-back // the first connect
			ids = append(ids, c.SessionID())
			clients = append(clients, c)
		}
		// Every transport drops: a poll between two requests would not notice a cut, but
		// its next request is refused.
		p.Refuse(true)
		p.CutAll()
		for range clients {
			select {
			case <-gone:
			case <-time.After(10 * time.Second):
				t.Fatal("a client did not notice its transport was gone")
			}
		}
		p.Refuse(false)
		for range clients {
			select {
			case id := <-back:
				if !slices.Contains(ids, id) {
					t.Errorf("reconnected as %s, want one of %v", id, ids)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a client at the session limit did not resume within 10 s")
			}
		}
		for _, c := range clients {
			mustEcho(t, c)
		}
		wantTooMany(t, url, tr)
	})
}
