package sockhop_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/events"
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
