package sockhop_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

// TestRateLimit runs in a synctest bubble on an in-memory network: the server's clock
// stands still while it handles a frame and moves only when the test waits, so the
// number of messages the token bucket lets through is exact, whatever the machine's load.
func TestRateLimit(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		synctest.Test(t, func(t *testing.T) {
			const rate, burst = 50, 20
			_, mc := memServer(t, sockhop.Options{MessageRate: rate, MessageBurst: burst}, nil)
			c := mc.dialRaw(t, tr)
			c.handshake()
			// 30 events at one instant: the burst is answered, the rest refused with an
			// error ack, and the session goes on.
			answered, limited, sent1 := echoFlood(t, c, 1, 30)
			if answered != burst || limited != 30-burst {
				t.Fatalf("%d answered, %d rate_limited; want %d and %d", answered, limited, burst, 30-burst)
			}
			// 210 ms later the bucket holds 10.5 tokens: of 12 events, 10 are answered. (A
			// frame is handled at the instant it is sent, but on xhr-polling its answers
			// may come a retried poll later, 20 ms each: the bucket fills meanwhile, so the
			// budget is counted from send to send.)
			time.Sleep(210 * time.Millisecond)
			answered, limited, sent2 := echoFlood(t, c, 31, 12)
			want := min(12, int(rate*sent2.Sub(sent1).Seconds()))
			if answered != want || limited != 12-want {
				t.Fatalf("%v after the first: %d answered, %d rate_limited; want %d and %d", sent2.Sub(sent1), answered, limited, want, 12-want)
			}
			// Pings count too, and are not answered past the burst. A peer that sends more
			// than twice the burst over what the rate allows, refused messages included, is
			// closed with 1008 (TestRateFlood has the steady floods): 40 pings at once are
			// not enough (20 answered; a second later the buckets are full again), 41 are.
			f := mc.dialRaw(t, tr)
			f.handshake()
			f.send(pings(2 * burst))
			time.Sleep(time.Second)
			f.send(`{"t":"ev","n":"echo","d":"ok","id":1}`)
			for n := 0; ; n++ {
				m, err := f.nextTimeout(10 * time.Second)
				if err != nil {
					t.Fatalf("after 40 pings and a second's wait: %v", err)
				}
				if m.T == events.TypeAck && m.ID == 1 && m.Err == nil {
					if n != burst {
						t.Fatalf("%d of 40 pings answered, want %d", n, burst)
					}
					break
				}
				if m.T != events.TypePong {
					t.Fatalf("unexpected message %+v", m)
				}
			}
			g := mc.dialRaw(t, tr)
			g.handshake()
			g.send(pings(2*burst + 1))
			if code := g.closeCode(); code != sockhop.ClosePolicyViolation {
				t.Fatalf("41 pings at once closed with %d, want 1008", code)
			}
		})
	})
}

// echoFlood sends n echo requests with ids from first on in one frame and counts the
// answers and the rate_limited refusals. It returns when it sent the frame, the instant
// (on the bubble's clock) the server handled it.
func echoFlood(t *testing.T, c *rawConn, first, n int) (answered, limited int, sent time.Time) {
	t.Helper()
	var frame []string
	for id := first; id < first+n; id++ {
		frame = append(frame, fmt.Sprintf(`{"t":"ev","n":"echo","d":%d,"id":%d}`, id, id))
	}
	sent = time.Now()
	c.send(strings.Join(frame, "\n"))
	for answered+limited < n {
		m, err := c.nextTimeout(10 * time.Second)
		switch {
		case err != nil:
			t.Fatal(err)
		case m.T == "pong": // the server acknowledging what arrived
		case m.T != "ack" || m.ID < uint64(first) || m.ID >= uint64(first+n):
			t.Fatalf("unexpected message %+v", m)
		case m.Err == nil:
			answered++
		case m.Err.Code == "rate_limited":
			limited++
		default:
			t.Fatalf("unexpected answer %+v", m)
		}
	}
	return answered, limited, sent
}

// pings is a frame of n pings.
func pings(n int) string {
	return strings.TrimSuffix(strings.Repeat(`{"t":"ping"}`+"\n", n), "\n")
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

// TestRateFlood floods a session on every transport with every kind of message at a
// steady rate above the default message rate (100/s, burst 200): whatever it sends, the
// peer is closed with 1008 once it is a burst over what the rate allows past its own
// burst, refused messages included: at twice the rate 2 s after its burst ran out, 4 s
// after it began. It runs in a synctest bubble on the in-memory network, so the times are
// those of the bubble's clock, exact whatever the machine's load.
func TestRateFlood(t *testing.T) {
	ev := `{"t":"ev","n":"echo","d":1,"id":1}`
	floods := []struct {
		name     string
		frames   []string // sent every 10 ms, one frame each
		from, to time.Duration
	}{
		{"events at twice the rate", []string{ev, ev}, 3900 * time.Millisecond, 4100 * time.Millisecond},
		{"50 events every 10 ms", []string{strings.TrimSuffix(strings.Repeat(ev+"\n", 50), "\n")}, 0, 100 * time.Millisecond},
		{"pings", []string{`{"t":"ping"}`, `{"t":"ping"}`}, 3900 * time.Millisecond, 4100 * time.Millisecond},
		{"pongs", []string{`{"t":"pong"}`, `{"t":"pong","r":0}`}, 3900 * time.Millisecond, 4100 * time.Millisecond},
		{"acks of no request", []string{`{"t":"ack","id":7}`, `{"t":"ack","id":8,"d":1}`}, 3900 * time.Millisecond, 4100 * time.Millisecond},
		{"empty frames", []string{"", ""}, 3900 * time.Millisecond, 4100 * time.Millisecond},
		{"empty lines", []string{"\n\n"}, 3900 * time.Millisecond, 4100 * time.Millisecond},
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		for _, f := range floods {
			t.Run(f.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					type end struct {
						at     time.Time
						reason error
					}
					ended := make(chan end, 1)
					_, mc := memServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
						srv.OnDisconnect(func(_ *sockhop.Session, reason error) { ended <- end{time.Now(), reason} })
					})
					c := mc.dialRaw(t, tr)
					c.handshake()
					var answered, limited atomic.Int64
					code := make(chan int, 1)
					go func() { // reads what the server sends until it closes
						for {
							m, err := c.next()
							switch {
							case err != nil:
								code <- events.CloseCode(err)
								return
							case m.T == events.TypeClose:
								code <- m.Code
								return
							case m.T == events.TypeAck && m.Err == nil:
								answered.Add(1)
							case m.T == events.TypeAck && m.Err.Code == "rate_limited":
								limited.Add(1)
							}
						}
					}()
					start := time.Now()
					var e end
				flood:
					for {
						for _, fr := range f.frames {
							if c.WriteFrame([][]byte{[]byte(fr)}) != nil {
								break
							}
						}
						time.Sleep(10 * time.Millisecond)
						select {
						case e = <-ended:
							break flood
						default:
						}
						if time.Since(start) > 10*time.Second {
							t.Fatalf("not closed after 10 s (%d answered, %d rate_limited)", answered.Load(), limited.Load())
						}
					}
					took := e.at.Sub(start)
					t.Logf("closed with %d after %v (%d answered, %d rate_limited)", sockhop.CloseCode(e.reason), took, answered.Load(), limited.Load())
					if got := sockhop.CloseCode(e.reason); got != sockhop.ClosePolicyViolation {
						t.Fatalf("the session ended with %v, want 1008", e.reason)
					}
					if took < f.from || took > f.to {
						t.Fatalf("closed after %v, want %v to %v", took, f.from, f.to)
					}
					if got := <-code; got != sockhop.ClosePolicyViolation {
						t.Fatalf("the client saw close code %d, want 1008", got)
					}
				})
			})
		}
	})
}

// TestRateLegit: a client that sends at the message rate, after a burst within the burst
// size, and answers all the server asks of it (requests, pings, and the pong it owes for
// every 32 counted messages it receives) is never refused or closed, however much the
// server sends it. It runs in a synctest bubble on the in-memory network.
func TestRateLegit(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		synctest.Test(t, func(t *testing.T) {
			const rate, burst = 100, 200
			var requests, failed atomic.Int64
			ended := make(chan error, 1)
			opts := sockhop.Options{MessageRate: rate, MessageBurst: burst, PingInterval: time.Second, PongTimeout: time.Second}
			_, mc := memServer(t, opts, func(srv *sockhop.Server) {
				srv.OnConnect(func(_ context.Context, s *sockhop.Session) error {
					go func() { // the server talks a lot: 500 events and 200 requests a second
						ctx := s.Context()
						tick := time.NewTicker(10 * time.Millisecond)
						defer tick.Stop()
						for {
							select {
							case <-ctx.Done():
								return
							case <-tick.C:
							}
							for range 5 {
								_ = s.Emit(ctx, "news", 1)
							}
							for range 2 {
								go func() {
									if _, err := s.EmitWithAck(ctx, "ask", 1); err != nil && ctx.Err() == nil {
										failed.Add(1)
									}
									requests.Add(1)
								}()
							}
						}
					}()
					return nil
				})
				srv.OnDisconnect(func(_ *sockhop.Session, reason error) { ended <- reason })
			})
			c := mc.dialRaw(t, tr)
			c.handshake()
			// One writer, so that the client's reader never waits for it (a net.Pipe write
			// waits for the other end's read).
			out := make(chan string, 1<<16)
			write := func(msg string) { out <- msg }
			written := make(chan struct{})
			go func() {
				defer close(written)
				for msg := range out {
					if c.WriteFrame([][]byte{[]byte(msg)}) != nil {
						for range out { // the connection is gone: drop the rest
						}
						return
					}
				}
			}()
			var answered, limited atomic.Int64
			done := make(chan struct{})
			go func() { // the client's reader: answers as the Go and JS clients do
				defer close(done)
				var counted, said uint64
				handle := func(m *events.Message) {
					switch m.T {
					case events.TypeEvent:
						counted++
						if m.ID != 0 {
							write(fmt.Sprintf(`{"t":"ack","id":%d,"d":2}`, m.ID))
						}
					case events.TypeAck:
						counted++
						if m.Err == nil {
							answered.Add(1)
						} else {
							limited.Add(1)
						}
					case events.TypePing:
						said = counted
						write(fmt.Sprintf(`{"t":"pong","r":%d}`, counted))
					}
				}
				for _, m := range c.buf { // what arrived with the welcome
					handle(m)
				}
				c.buf = nil
				for {
					frame, err := c.ReadFrame()
					if err != nil {
						return
					}
					_ = events.Lines(frame, func(l []byte) error {
						m, err := events.Decode(l)
						if err == nil {
							handle(&m)
						}
						return err
					})
					if counted-said >= 32 {
						said = counted
						write(fmt.Sprintf(`{"t":"pong","r":%d}`, counted))
					}
				}
			}()
			// 10 s at the rate, with a burst of 150 at the fifth second.
			id := 0
		send:
			for i := range 1000 {
				select {
				case reason := <-ended:
					t.Errorf("closed after %v: %v", time.Duration(i)*10*time.Millisecond, reason)
					break send
				default:
				}
				n := 1
				if i == 500 {
					n = 150
				}
				var frame []string
				for range n {
					id++
					frame = append(frame, fmt.Sprintf(`{"t":"ev","n":"echo","d":%d,"id":%d}`, id, id))
				}
				write(strings.Join(frame, "\n"))
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(time.Second)
			select {
			case reason := <-ended:
				t.Errorf("closed: %v", reason)
			default:
			}
			t.Logf("%d of %d events answered, %d rate_limited; %d requests of the server answered, %d failed", answered.Load(), id, limited.Load(), requests.Load(), failed.Load())
			if answered.Load() != int64(id) || limited.Load() != 0 || failed.Load() != 0 || requests.Load() < 1500 {
				t.Error("a well-behaved client was refused")
			}
			_ = c.Close(1000, "")
			<-done
			close(out)
			<-written
		})
	})
}
