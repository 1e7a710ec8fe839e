package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

// streamServer emits m numbered "n" events to a session that asks with "stream", paced,
// and counts "inc" requests per session, recording any it sees twice.
type streamServer struct {
	srv  *sockhop.Server
	mu   sync.Mutex
	seen map[string]map[int]bool // session -> inc payloads
	dups []string
}

// wrap, when given, serves in front of the server (a fault gate, switch_test.go).
func newStreamServer(t *testing.T, opts sockhop.Options, wrap ...func(http.Handler) http.Handler) (*streamServer, *httptest.Server) {
	ss := &streamServer{seen: make(map[string]map[int]bool)}
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ss.srv = srv
	type stream struct {
		M     int           `json:"m"`
		Every time.Duration `json:"every"`
		Bin   bool          `json:"bin"` // the numbers as bytes (binary messages)
	}
	sockhop.OnRequest(srv, "stream", func(ctx context.Context, s *sockhop.Session, st stream) (bool, error) {
		go func() { // the session's context ends this goroutine
			tick := time.NewTicker(st.Every)
			defer tick.Stop()
			for i := 0; i < st.M; i++ {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
				var v any = i
				if st.Bin {
					v = []byte(strconv.Itoa(i))
				}
				if s.Emit(ctx, "n", v) != nil {
					return
				}
			}
		}()
		return true, nil
	})
	sockhop.OnRequest(srv, "inc", func(ctx context.Context, s *sockhop.Session, k int) (int, error) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		m := ss.seen[s.ID()]
		if m == nil {
			m = make(map[int]bool)
			ss.seen[s.ID()] = m
		}
		if m[k] {
			ss.dups = append(ss.dups, fmt.Sprintf("%s/%d", s.ID(), k))
		}
		m[k] = true
		return k + 1, nil
	})
	var h http.Handler = srv
	for _, w := range wrap {
		h = w(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	return ss, hs
}

// TestResumeUnderCuts: clients on every transport receive a stream of numbered messages
// and make acked emits while a proxy cuts their connections every 0.2–2 s. Every message
// arrives exactly once and in order, every emit gets exactly one reply, and the server
// handles no emit twice.
func TestResumeUnderCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real time): make test and make gofull run it; make check (-short) does not")
	}
	clients, m, emits := 50, 2000, 500
	if raceEnabled {
		clients, m, emits = 10, 1000, 200 // the race detector costs ~10x on 2 cores; the full size runs without it in make test
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		// 50 clients from one address resuming about 25 times a second: like an office
		// behind one NAT, this needs ConnectRate raised (or off) as it would MaxSessionsPerIP.
		ss, hs := newStreamServer(t, sockhop.Options{MaxQueueBytes: 4 << 20, MessageRate: -1, ConnectRate: -1})
		proxy, err := faultproxy.New(strings.TrimPrefix(hs.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		proxy.RandomCuts(200*time.Millisecond, 2*time.Second)
		url := "http://" + proxy.Addr()

		var wg sync.WaitGroup
		var gapsMu sync.Mutex
		var gaps []time.Duration // from a transport drop to the resumed session serving again
		var failures atomic.Int64
		var resumeFailed atomic.Int64
		fail := func(format string, args ...any) {
			if failures.Add(1) <= 5 {
				t.Errorf(format, args...)
			}
		}
		for i := range clients {
			wg.Go(func() {
				c := client.New(url, client.Options{
					Transports: []string{tr}, MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
					AckTimeout: 2 * time.Minute, OpenTimeout: 3 * time.Second,
					HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
				})
				c.OnResumeFailed(func() { resumeFailed.Add(1) })
				var dropped time.Time
				c.OnDisconnect(func(error) { dropped = time.Now() })
				c.OnConnect(func() {
					if !dropped.IsZero() {
						gapsMu.Lock()
						gaps = append(gaps, time.Since(dropped))
						gapsMu.Unlock()
					}
				})
				got := make(chan error, 1)
				next := 0
				c.On("n", func(ctx context.Context, data json.RawMessage) {
					var k int
					_ = json.Unmarshal(data, &k)
					if k != next {
						select {
						case got <- fmt.Errorf("client %d: got %d, want %d", i, k, next):
						default:
						}
						return
					}
					next++
					if next == m {
						got <- nil
					}
				})
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				if err := c.Connect(ctx); err != nil {
					fail("client %d: first connect: %v", i, err)
					return
				}
				defer c.Close()
				if _, err := c.EmitWithAck(ctx, "stream", map[string]any{"m": m, "every": 3 * time.Millisecond}); err != nil {
					fail("client %d: stream: %v", i, err)
					return
				}
				for k := range emits {
					reply, err := c.EmitWithAck(ctx, "inc", k)
					if err != nil || string(reply) != fmt.Sprint(k+1) {
						fail("client %d: inc %d: %s %v", i, k, reply, err)
						return
					}
				}
				select {
				case err := <-got:
					if err != nil {
						fail("%v", err)
					}
				case <-ctx.Done():
					fail("client %d: %d of %d messages after 3 min", i, next, m)
				}
			})
		}
		wg.Wait()
		accepted, cuts := proxy.Stats()
		ss.mu.Lock()
		dups := slices.Clone(ss.dups)
		ss.mu.Unlock()
		if len(dups) > 0 {
			t.Errorf("the server handled %d emits twice: %v", len(dups), dups[:min(5, len(dups))])
		}
		if resumeFailed.Load() > 0 {
			t.Errorf("%d resumes failed", resumeFailed.Load())
		}
		if cuts < clients {
			t.Errorf("only %d cuts for %d clients: the test did not test resume", cuts, clients)
		}
		slices.Sort(gaps)
		pct := func(p float64) time.Duration {
			if len(gaps) == 0 {
				return 0
			}
			return gaps[min(len(gaps)-1, int(p*float64(len(gaps))))].Round(time.Millisecond)
		}
		t.Logf("%s: %d clients × %d messages + %d acked emits, %d connections cut of %d; lost 0, duplicated 0, reordered 0; %d resumes, time to resume p50 %v p99 %v (backoff 20–300 ms included)",
			tr, clients, m, emits, cuts, accepted, len(gaps), pct(0.5), pct(0.99))
	})
}

// TestResumeImpossible: after the grace expires, a client that comes back gets a new
// session and is told so.
func TestResumeAfterGrace(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		// A poller between polls is noticed gone after SockJSDisconnectDelay.
		ss, hs := newStreamServer(t, sockhop.Options{ResumeGrace: 300 * time.Millisecond, SockJSDisconnectDelay: 200 * time.Millisecond})
		proxy, err := faultproxy.New(strings.TrimPrefix(hs.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		c := client.New("http://"+proxy.Addr(), client.Options{Transports: []string{tr}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		failed := make(chan struct{}, 1)
		c.OnResumeFailed(func() { failed <- struct{}{} })
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first := c.SessionID()
		proxy.Refuse(true) // the server is unreachable past the 300 ms grace
		proxy.CutAll()
		deadline := time.Now().Add(10 * time.Second)
		for ss.srv.Session(first) != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polls the server's state, not a clock
		}
		if ss.srv.Session(first) != nil {
			t.Fatal("the session outlived its grace by 10 s")
		}
		proxy.Refuse(false)
		select {
		case <-failed:
		case <-time.After(15 * time.Second):
			t.Fatal("no resume-failed event")
		}
		if c.SessionID() == first || c.SessionID() == "" {
			t.Fatalf("session %q after a failed resume, was %q", c.SessionID(), first)
		}
		mustEchoInc(t, c)
	})
}

// TestResumeTokenRotates: a resume token works once; the session id with an old token
// gets a fresh session, not the old one.
func TestResumeTokenRotates(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, hs := newStreamServer(t, sockhop.Options{})
		url := hs.URL
		c := dialRaw(t, url, tr, nil)
		w := c.handshake()
		c.Close(1000, "") // the resume replaces the transport, whether or not the server saw this yet
		c2 := dialRaw(t, url, tr, nil)
		c2.send(fmt.Sprintf(`{"t":"hello","v":1,"resume":{"sid":%q,"token":%q,"seq":0}}`, w.SID, w.Token))
		w2, err := c2.next()
		if err != nil || !w2.Resumed || w2.SID != w.SID || w2.Token == w.Token {
			t.Fatalf("resume: %+v %v", w2, err)
		}
		c2.send(`{"t":"ev","n":"inc","d":1,"id":1}`) // shows the server the client has the new token
		if m, err := c2.next(); err != nil || string(m.Data) != "2" {
			t.Fatalf("after resume: %+v %v", m, err)
		}
		c2.Close(1000, "")
		c3 := dialRaw(t, url, tr, nil)
		c3.send(fmt.Sprintf(`{"t":"hello","v":1,"resume":{"sid":%q,"token":%q,"seq":0}}`, w.SID, "forged"+w.Token))
		if w3, err := c3.next(); err != nil || w3.Resumed || w3.SID == w.SID {
			t.Fatalf("forged token: %+v %v", w3, err)
		}
	})
}

func mustEchoInc(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if reply, err := c.EmitWithAck(ctx, "inc", 41); err != nil || string(reply) != "42" {
		t.Fatalf("inc: %s %v", reply, err)
	}
}

// TestNoGrowthAfterExpiry: sessions dropped and expired leave the heap within 2x of
// where a first identical round left it, and no session behind.
func TestNoGrowthAfterExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real time): make test and make gofull run it; make check (-short) does not")
	}
	ss, hs := newStreamServer(t, sockhop.Options{ResumeGrace: 200 * time.Millisecond, MaxSessionsPerIP: -1})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	round := func() {
		var conns []*rawConn
		for range 200 {
			c := dialRaw(t, hs.URL, client.WebSocket, nil)
			c.handshake()
			c.send(`{"t":"ev","n":"stream","d":{"m":100,"every":1000000},"id":1}`)
			conns = append(conns, c)
		}
		time.Sleep(100 * time.Millisecond) // let the streams queue
		for _, c := range conns {
			c.Close(1006, "") // dropped, not closed: the sessions wait for a resume
		}
		deadline := time.Now().Add(10 * time.Second)
		for ss.srv.SessionCount() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := ss.srv.SessionCount(); n > 0 {
			t.Fatalf("%d sessions left 10 s after a 200 ms grace", n)
		}
	}
	round()
	base := heap()
	round()
	if after := heap(); after > 2*base {
		t.Fatalf("heap %d KiB after the second round of expired sessions, %d KiB after the first", after>>10, base>>10)
	} else {
		t.Logf("heap after expiry: %d KiB, first round %d KiB", after>>10, base>>10)
	}
}
