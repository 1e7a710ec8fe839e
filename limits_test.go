package sockhop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
)

// echoServer is a server with an "echo" request handler and small limits for the tests.
func echoServer(t *testing.T, opts sockhop.Options, setup func(*sockhop.Server)) (*sockhop.Server, string) {
	return testServer(t, opts, func(srv *sockhop.Server) {
		sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v any) (any, error) {
			return v, nil
		})
		if setup != nil {
			setup(srv)
		}
	})
}

// mustEcho checks that a well-behaved client still gets its echo.
func mustEcho(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if reply, err := c.EmitWithAck(ctx, "echo", "ok"); err != nil || string(reply) != `"ok"` {
		t.Fatalf("bystander echo: %s %v", reply, err)
	}
}

// sendRaw writes bytes as they are: a WebSocket text message, or an xhr_send body made of
// one JSON string holding them (sent unescaped when asBody is set).
func sendRaw(t *testing.T, c *rawConn, tr string, p []byte, asBody bool) {
	t.Helper()
	var err error
	switch conn := c.Conn.(type) {
	case interface{ WriteRaw(int, []byte) error }:
		err = conn.WriteRaw(websocket.TextMessage, p)
	case interface{ WriteRaw([]byte) error }:
		if asBody {
			err = conn.WriteRaw(p)
		} else {
			err = c.WriteFrame([][]byte{p})
		}
	default:
		t.Fatalf("%s: no raw writer", tr)
	}
	var he *dial.HTTPError
	if err != nil && !errors.As(err, &he) { // 413/400 are expected answers here
		t.Logf("send: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	const max = 1024
	big := `{"t":"ev","n":"echo","d":"` + strings.Repeat("x", max) + `"}`
	cases := []struct {
		name      string
		hello     bool // handshake first
		frame     string
		body      bool // send frame as the raw xhr_send body (SockJS) / message (WebSocket)
		wantCode  int
		wantAlive bool
	}{
		{name: "truncated JSON", hello: true, frame: `{"t":"ev","n":`, wantCode: sockhop.CloseProtocolError},
		{name: "not JSON", hello: true, frame: `hello there`, wantCode: sockhop.CloseProtocolError},
		{name: "unknown type", hello: true, frame: `{"t":"zap"}`, wantCode: sockhop.CloseProtocolError},
		{name: "event without name", hello: true, frame: `{"t":"ev","d":1}`, wantCode: sockhop.CloseProtocolError},
		{name: "ack id too large", hello: true, frame: `{"t":"ack","id":9007199254740993}`, wantCode: sockhop.CloseProtocolError},
		{name: "second hello", hello: true, frame: `{"t":"hello","v":1}`, wantCode: sockhop.CloseProtocolError},
		{name: "oversize frame", hello: true, frame: big, wantCode: sockhop.CloseTooBig},
		{name: "invalid UTF-8", hello: true, frame: "{\"t\":\"ev\",\"n\":\"echo\",\"d\":\"\xff\xfe\"}", body: true, wantCode: sockhop.CloseInvalidPayload},
		{name: "first message not hello", frame: `{"t":"ev","n":"echo"}`, wantCode: sockhop.CloseProtocolError},
		{name: "bad version", frame: `{"t":"hello","v":99}`, wantCode: sockhop.CloseUnsupportedVersion},
		{name: "ack for unknown id", hello: true, frame: `{"t":"ack","id":12345,"d":1}`, wantAlive: true},
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		// Each case comes from an address of its own: the server charges an address's
		// connection budget for every abusive close (TestConnectRate).
		_, url := echoServer(t, sockhop.Options{MaxMessageSize: max, TrustedProxies: []string{"127.0.0.1"}}, nil)
		bystander := dialClient(t, url, tr, client.Options{})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, url, tr, http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i+1)}})
				if tc.hello {
					c.handshake()
				}
				frame := []byte(tc.frame)
				if tc.body && tr != client.WebSocket {
					// invalid UTF-8 inside the JSON body itself
					frame = append(append([]byte(`["`), frame[:len(frame)-4]...), []byte("\xff\"]")...)
					sendRaw(t, c, tr, frame, true)
				} else {
					sendRaw(t, c, tr, frame, false)
				}
				if tc.wantAlive {
					c.send(`{"t":"ev","n":"echo","d":"still","id":1}`)
					m, err := c.next()
					if err != nil || m.T != "ack" || string(m.Data) != `"still"` {
						t.Fatalf("session did not survive: %+v %v", m, err)
					}
				} else if got := c.closeCode(); got != tc.wantCode {
					t.Fatalf("close code %d, want %d", got, tc.wantCode)
				}
				mustEcho(t, bystander)
			})
		}
	})
}

// TestFrameWhole: a frame is taken whole or not at all. A good event followed, in the
// same frame, by a malformed line or an unexpected hello closes the session with 1002
// without handling or answering the event (it is not counted as received either: the
// session package's TestFrameWhole checks the count). The handshake frame too.
func TestFrameWhole(t *testing.T) {
	good := `{"t":"ev","n":"count","d":1}` + "\n" + `{"t":"ev","n":"echo","d":"ok","id":1}`
	frames := []struct{ name, frame string }{
		{"malformed line", good + "\n" + `{"t":"ev","n":`},
		{"unexpected hello", good + "\n" + `{"t":"hello","v":1}`},
		{"with the hello", `{"t":"hello","v":1}` + "\n" + good + "\n" + `{"t":"ev"}`},
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		for _, f := range frames {
			t.Run(f.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var handled atomic.Int64
					_, mc := memServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
						sockhop.On(srv, "count", func(context.Context, *sockhop.Session, int) error {
							handled.Add(1)
							return nil
						})
					})
					c := mc.dialRaw(t, tr)
					if !strings.HasPrefix(f.frame, `{"t":"hello"`) {
						c.handshake()
					}
					c.send(f.frame)
					for {
						m, err := c.next()
						if err != nil {
							if code := events.CloseCode(err); code != sockhop.CloseProtocolError {
								t.Fatalf("closed with %d, want 1002", code)
							}
							break
						}
						if m.T == events.TypeClose {
							if m.Code != sockhop.CloseProtocolError {
								t.Fatalf("closed with %d, want 1002", m.Code)
							}
							break
						}
						if m.T != events.TypeWelcome && m.T != events.TypePing {
							t.Fatalf("got %+v before the close", m)
						}
					}
					synctest.Wait()
					if n := handled.Load(); n != 0 {
						t.Fatalf("%d events of the refused frame handled", n)
					}
				})
			})
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{HandshakeTimeout: 200 * time.Millisecond}, nil)
		c := dialRaw(t, url, tr, nil)
		if got := c.closeCode(); got != sockhop.CloseHandshakeTimeout {
			t.Fatalf("close code %d, want %d", got, sockhop.CloseHandshakeTimeout)
		}
	})
}

// TestHeartbeat runs in a synctest bubble on an in-memory network, so the server's ping
// interval and pong timeout are checked on the bubble's clock, to the millisecond.
func TestHeartbeat(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		synctest.Test(t, func(t *testing.T) {
			const ping, pong = 100 * time.Millisecond, 150 * time.Millisecond
			type end struct {
				at     time.Time
				reason error
			}
			ended := make(chan end, 2)
			opts := sockhop.Options{PingInterval: ping, PongTimeout: pong, ResumeGrace: -1} // a dead transport ends its session
			_, mc := memServer(t, opts, func(srv *sockhop.Server) {
				srv.OnDisconnect(func(_ *sockhop.Session, reason error) { ended <- end{time.Now(), reason} })
			})
			// A peer that answers every ping stays up across many ping intervals.
			good := mc.dialRaw(t, tr)
			good.handshake()
			var answered atomic.Int64
			goodErr := make(chan error, 1)
			go func() {
				for {
					frame, err := good.ReadFrame()
					if err != nil {
						goodErr <- err
						return
					}
					if bytes.Contains(frame, []byte(`"t":"ping"`)) {
						answered.Add(1)
						if err := good.WriteFrame([][]byte{[]byte(`{"t":"pong"}`)}); err != nil {
							goodErr <- err
							return
						}
					}
				}
			}()
			// A peer that never answers is closed with 4001 after its first unanswered ping
			// (sent 90-100 ms after its hello: the interval less up to 10% jitter) and the
			// timeout. The server ends the session at that instant (the close may reach an
			// xhr-polling client a retried poll later).
			mute := mc.dialRaw(t, tr)
			hello := time.Now() // the instant the server handles the hello it is sent
			mute.handshake()
			if got := mute.closeCode(); got != sockhop.CloseHeartbeatTimeout {
				t.Fatalf("mute peer: close code %d, want %d", got, sockhop.CloseHeartbeatTimeout)
			}
			e := <-ended
			if d := e.at.Sub(hello); sockhop.CloseCode(e.reason) != sockhop.CloseHeartbeatTimeout || d < ping*9/10+pong || d > ping+pong {
				t.Fatalf("mute peer's session ended after %v (%v), want 4001 after %v to %v", d, e.reason, ping*9/10+pong, ping+pong)
			}
			time.Sleep(10 * ping)
			select {
			case err := <-goodErr:
				t.Fatalf("answering peer was closed: %v", err)
			case e := <-ended:
				t.Fatalf("answering peer's session ended: %v", e.reason)
			default:
			}
			// At least one ping per interval was sent since (less whatever is still on its
			// way to an xhr-polling client).
			if n := answered.Load(); n < 10 {
				t.Fatalf("answering peer got %d pings in %v, want one per %v at least", n, time.Since(hello), ping)
			}
		})
	})
}

func TestSlowConsumer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		reasons := make(chan error, 4)
		sessions := make(chan *sockhop.Session, 4)
		_, url := echoServer(t, sockhop.Options{MaxQueueBytes: 64 << 10}, func(srv *sockhop.Server) {
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
				sessions <- s
				return nil
			})
			srv.OnDisconnect(func(s *sockhop.Session, reason error) { reasons <- reason })
		})
		bystander := dialClient(t, url, tr, client.Options{})
		<-sessions
		slow := dialRaw(t, url, tr, nil) // never reads after the welcome
		slow.handshake()
		s := <-sessions
		payload := strings.Repeat("x", 1024)
		var err error
		for i := 0; i < 200000 && err == nil; i++ {
			err = s.Emit(context.Background(), "flood", payload)
		}
		if !errors.Is(err, sockhop.ErrSlowConsumer) && !errors.Is(err, sockhop.ErrSessionClosed) {
			t.Fatalf("emit to a stalled client never failed: %v", err)
		}
		select {
		case r := <-reasons:
			if sockhop.CloseCode(r) != sockhop.CloseTryAgainLater {
				t.Fatalf("slow consumer closed with %v, want code 1013", r)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("slow consumer was not closed")
		}
		mustEcho(t, bystander)
	})
}

func TestHandlerPanic(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			sockhop.On(srv, "boom", func(ctx context.Context, s *sockhop.Session, v any) error { panic("boom") })
		})
		bystander := dialClient(t, url, tr, client.Options{})
		victim := dialRaw(t, url, tr, nil)
		victim.handshake()
		victim.send(`{"t":"ev","n":"boom"}`)
		if got := victim.closeCode(); got != sockhop.CloseInternalError {
			t.Fatalf("close code %d, want %d", got, sockhop.CloseInternalError)
		}
		mustEcho(t, bystander)
	})
}

func TestOnConnectReject(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
				if s.Header().Get("X-Token") != "secret" {
					return &sockhop.Error{Code: "forbidden", Message: "bad token"}
				}
				return s.Emit(ctx, "hi", "welcome aboard")
			})
		})
		ctx := context.Background()
		_, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}})
		var ce *sockhop.CloseError
		if !errors.As(err, &ce) || ce.Code != sockhop.CloseRejected || ce.Err == nil || ce.Err.Message != "bad token" {
			t.Fatalf("rejected dial: %v", err)
		}
		c := client.New(url, client.Options{Transports: []string{tr}, NoReconnect: true, Header: http.Header{"X-Token": {"secret"}}})
		hi := collect(c, "hi", 1)
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := string(hi.next(t)); got != `"welcome aboard"` {
			t.Fatalf("OnConnect emit: %s", got)
		}
	})
}

func TestOrigin(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{AllowedOrigins: []string{"https://app.example", "*.trusted.example"}}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for origin, ok := range map[string]bool{
			"https://evil.example":         false,
			"null":                         false,
			"https://app.example":          true,
			"https://x.trusted.example":    true,
			strings.TrimSuffix(url, "/rt"): true, // same origin
		} {
			c, err := dial.Dial(ctx, url, tr, dial.Options{Header: http.Header{"Origin": {origin}}})
			var he *dial.HTTPError
			switch {
			case ok && err != nil:
				t.Errorf("origin %s refused: %v", origin, err)
			case !ok && (!errors.As(err, &he) || he.Status != http.StatusForbidden):
				t.Errorf("origin %s: %v, want HTTP 403", origin, err)
			}
			if c != nil {
				c.Close(1000, "")
			}
		}
		if tr == client.WebSocket {
			return
		}
		// Every SockJS request is checked, xhr_send of an open session included.
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		req, _ := http.NewRequest(http.MethodPost, c.Conn.(interface{ URL() string }).URL()+"/xhr_send", strings.NewReader(`["{\"t\":\"ping\"}"]`))
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("xhr_send with a bad origin: %d, want 403", resp.StatusCode)
		}
	})
}

// TestSockJSRequests covers SockJS-level misuse: a second concurrent stream, xhr_send to
// an unknown session, and the info endpoint.
func TestSockJSRequests(t *testing.T) {
	_, url := echoServer(t, sockhop.Options{}, nil)
	resp, err := http.Get(url + "/sockjs/info")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"websocket":false`) {
		t.Fatalf("info: %s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/sockjs/000/nosuchsession/xhr_send", strings.NewReader(`["x"]`))
	req.Header.Set("X-Sockhop-Key", someKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("xhr_send to an unknown session: %d, want 404", resp.StatusCode)
	}
	for _, tr := range []string{client.XHRStreaming, client.XHRPolling} {
		t.Run(tr, func(t *testing.T) {
			c := dialRaw(t, url, tr, nil)
			c.handshake()
			path := map[string]string{client.XHRStreaming: "/xhr_streaming", client.XHRPolling: "/xhr"}[tr]
			var wg sync.WaitGroup
			second := make(chan struct{})
			wg.Go(func() {
				defer close(second)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Conn.(interface{ URL() string }).URL()+path, nil)
				req.Header.Set("X-Sockhop-Key", c.Conn.(interface{ Key() string }).Key()) // the session's own
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
				refused := strings.Contains(string(b), `c[2010,"Another connection still open"]`)
				// A stream is refused while the first is attached. Polls take turns: a second
				// poll either finds the first attached (2010) or is the next poll itself.
				if !refused && (tr == client.XHRStreaming || !strings.HasPrefix(string(b), "a[")) {
					t.Errorf("second receiver got %q", b[max(0, len(b)-80):])
				}
			})
			if tr == client.XHRPolling {
				// Whichever poll is attached takes the answer to each ping: ping until the
				// second one has had its turn (the first client's polls may win a few).
				tick := time.NewTicker(50 * time.Millisecond)
				for done := false; !done; {
					c.send(`{"t":"ping"}`)
					select {
					case <-second:
						done = true
					case <-tick.C:
					}
				}
				tick.Stop()
			}
			wg.Wait()
			// The session goes on. (A poll that took a frame meant for the first receiver
			// took it for the same session: that is the one case a message goes elsewhere.)
			c.send(`{"t":"ev","n":"echo","d":2,"id":2}`)
			for {
				m, err := c.next()
				if err != nil {
					t.Fatalf("session after a second receiver: %v", err)
				}
				if m.T == "ack" && m.ID == 2 {
					break
				}
			}
			wg.Wait()
		})
	}
}

func TestShutdown(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		srv, err := sockhop.New(sockhop.Options{ShutdownRetry: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		hs := newHTTPServer(t, srv)
		url := hs.URL + "/rt"
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(ctx) }()
		m, err := c.next()
		if err != nil || m.T != "close" || m.Code != sockhop.CloseGoingAway || m.Retry < 200 || m.Retry > 2000 {
			t.Fatalf("close message %+v %v, want 1001 with a retry hint in [200,2000] ms", m, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		// A new connection is told to come back later (TestLimitHints checks the hint).
		dc, err := dial.Dial(ctx, url, tr, dial.Options{})
		var he *dial.HTTPError
		if tr == client.WebSocket {
			if err != nil {
				t.Fatalf("dial after Shutdown: %v, want an upgrade and a close message", err)
			}
			defer dc.Close(1000, "")
			c := &rawConn{t: t, Conn: dc}
			if m, err := c.next(); err != nil || m.T != "close" || m.Code != sockhop.CloseGoingAway || m.Retry == 0 {
				t.Fatalf("dial after Shutdown: %+v %v, want close 1001 with a retry hint", m, err)
			}
		} else if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable || he.RetryAfter == 0 {
			t.Fatalf("dial after Shutdown: %v, want 503 with Retry-After", err)
		}
	})
}

// TestShutdownForceDuringOnConnect: a forced Shutdown cancels the context of an OnConnect
// hook that waits on it, although its session is not registered yet (a session's context
// is not a child of the server's).
func TestShutdownForceDuringOnConnect(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		srv, err := sockhop.New(sockhop.Options{})
		if err != nil {
			t.Fatal(err)
		}
		entered, returned := make(chan struct{}), make(chan error, 1)
		srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
			close(entered)
			<-ctx.Done()
			returned <- context.Cause(ctx)
			return ctx.Err()
		})
		hs := newHTTPServer(t, srv)
		c := dialRaw(t, hs.URL+"/rt", tr, nil)
		c.send(`{"t":"hello","v":1}`)
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("OnConnect did not run")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want the deadline (OnConnect held the session)", err)
		}
		select {
		case cause := <-returned:
			var ce *sockhop.CloseError
			if !errors.As(cause, &ce) || ce.Code != sockhop.CloseGoingAway {
				t.Fatalf("OnConnect's context ended with %v, want close 1001", cause)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("OnConnect's context was not cancelled by a forced Shutdown")
		}
		if code := c.closeCode(); code != sockhop.CloseGoingAway && code != events.CloseAbnormal {
			t.Fatalf("client saw close %d, want 1001 (or the connection cut)", code)
		}
	})
}

// TestShutdownForce checks that Shutdown returns at its deadline when a session cannot
// be closed gracefully (a stalled peer with a full queue).
func TestShutdownForce(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		sessions := make(chan *sockhop.Session, 1)
		srv, err := sockhop.New(sockhop.Options{MaxQueueBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { sessions <- s; return nil })
		hs := newHTTPServer(t, srv)
		c := dialRaw(t, hs.URL+"/rt", tr, nil)
		c.handshake()
		s := <-sessions
		for range 20000 { // 20 MiB the peer never reads
			if s.Emit(context.Background(), "x", strings.Repeat("y", 1000)) != nil {
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) && err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("forced Shutdown took %v", d)
		}
		select {
		case <-s.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session still open after a forced Shutdown")
		}
	})
}
