package sockhop_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

func TestRateLimit(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{MessageRate: 50, MessageBurst: 20}, nil)
		// Over the burst: the excess is refused with an error ack, the session goes on.
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		var frame []string
		for i := 1; i <= 30; i++ {
			frame = append(frame, fmt.Sprintf(`{"t":"ev","n":"echo","d":%d,"id":%d}`, i, i))
		}
		c.send(strings.Join(frame, "\n"))
		ok, limited := 0, 0
		for range 30 {
			m, err := c.nextTimeout(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case m.Err == nil:
				ok++
			case m.Err.Code == "rate_limited":
				limited++
			}
		}
		if ok != 20 || limited != 10 {
			t.Fatalf("%d answered, %d rate_limited; want 20 and 10", ok, limited)
		}
		time.Sleep(200 * time.Millisecond) // 10 tokens back
		c.send(`{"t":"ev","n":"echo","d":"again","id":99}`)
		if m, err := c.next(); err != nil || m.Err != nil {
			t.Fatalf("after refilling: %+v %v", m, err)
		}
		// A flood of pings that keeps going is closed with 1008.
		f := dialRaw(t, url, tr, nil)
		f.handshake()
		f.send(strings.TrimSuffix(strings.Repeat(`{"t":"ping"}`+"\n", 200), "\n"))
		if got := f.closeCode(); got != sockhop.ClosePolicyViolation {
			t.Fatalf("ping flood closed with %d, want 1008", got)
		}
	})
}

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

func TestConnectRate(t *testing.T) {
	t.Run("refused", func(t *testing.T) { forEachTransport(t, connectRefused) })
	t.Run("paced", func(t *testing.T) { forEachTransport(t, connectPaced) })
	t.Run("abuse", func(t *testing.T) { forEachTransport(t, connectAbuse) })
}

func connectRefused(t *testing.T, tr string) {
	// A turn every 100 s and a second's debt at most: the second connection is refused.
	_, url := echoServer(t, sockhop.Options{ConnectRate: 0.01, ConnectBurst: 1, TrustedProxies: []string{"127.0.0.1"}}, nil)
	mustEcho(t, dialClient(t, url, tr, client.Options{}))
	wantRefused(t, url, tr, 90*time.Second)
	// Other addresses have budgets of their own.
	mustEcho(t, dialClient(t, url, tr, client.Options{Header: http.Header{"X-Forwarded-For": {"198.51.100.9"}}}))
}

func connectAbuse(t *testing.T, tr string) {
	// A turn a second, three at once; a connection closed for abuse costs a second more.
	ended := make(chan struct{}, 2)
	_, url := echoServer(t, sockhop.Options{ConnectRate: 1, ConnectBurst: 3, TrustedProxies: []string{"127.0.0.1"}}, func(srv *sockhop.Server) {
		srv.OnDisconnect(func(*sockhop.Session, error) { ended <- struct{}{} })
	})
	for range 2 {
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		c.send(`{"t":"zap"}`)
		if got := c.closeCode(); got != sockhop.CloseProtocolError {
			t.Fatalf("closed with %d, want 1002", got)
		}
		<-ended // the server has charged the address when the session has ended
	}
	// Without the charge a third connection would be within the burst.
	wantRefused(t, url, tr, 0)
	mustEcho(t, dialClient(t, url, tr, client.Options{Header: http.Header{"X-Forwarded-For": {"198.51.100.9"}}}))
}

// wantRefused dials url from 127.0.0.1 and wants the connection refused for its rate:
// 1013 on WebSocket, 429 on SockJS, with a retry hint of at least min.
func wantRefused(t *testing.T, url, tr string, min time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, NoReconnect: true})
	var ce *sockhop.CloseError
	var he *dial.HTTPError
	switch {
	case tr == client.WebSocket && (!errors.As(err, &ce) || ce.Code != sockhop.CloseTryAgainLater || ce.Retry <= 0 || ce.Retry < min.Milliseconds()):
		t.Fatalf("WebSocket connection: %v, want close 1013 with a retry hint of at least %v", err, min)
	case tr != client.WebSocket && (!errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.RetryAfter <= 0 || he.RetryAfter < min):
		t.Fatalf("SockJS connection: %v, want 429 with a Retry-After of at least %v", err, min)
	}
}

func connectPaced(t *testing.T, tr string) {
	// Past the burst, connections wait their turn (50 ms apart) rather than fail.
	_, url := echoServer(t, sockhop.Options{ConnectRate: 20, ConnectBurst: 1}, nil)
	for range 4 {
		mustEcho(t, dialClient(t, url, tr, client.Options{}))
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
			if got := bin.closeCode(); got != sockhop.CloseUnsupportedData {
				t.Fatalf("binary frame closed with %d, want 1003", got)
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
