package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

var transports = []string{client.WebSocket, client.XHRStreaming, client.XHRPolling}

// forEachTransport runs f as a subtest on every transport.
func forEachTransport(t *testing.T, f func(t *testing.T, tr string)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

// ladder puts tr first and the other transports after it, so that a client that walks
// down the ladder shows it.
func ladder(tr string) []string {
	l := []string{tr}
	for _, o := range transports {
		if o != tr {
			l = append(l, o)
		}
	}
	return l
}

// attempts records, per transport, when each transport connection was attempted: a
// WebSocket upgrade, or the first receiving request of a SockJS session.
type attempts struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (a *attempts) record(r *http.Request) string {
	var tr string
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/ws"):
		tr = client.WebSocket
	case strings.HasSuffix(p, "/xhr_streaming"):
		tr = client.XHRStreaming
	case strings.HasSuffix(p, "/xhr"):
		tr = client.XHRPolling
	default:
		return ""
	}
	if q := r.URL.Query().Get("p"); q != "" && q != "1" {
		return "" // a later request of the same SockJS session
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at[tr] = append(a.at[tr], time.Now())
	return tr
}

func (a *attempts) of(tr string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at[tr]...)
}

// others fails t when a transport other than tr was attempted.
func (a *attempts) others(t *testing.T, tr string) {
	t.Helper()
	for _, o := range transports {
		if n := len(a.of(o)); o != tr && n > 0 {
			t.Errorf("the client walked down the ladder: %d attempts on %s", n, o)
		}
	}
}

// refusalServer starts a sockhop server at /rt with opts. front, when set, may answer a
// request itself (reporting true) before the server sees it; it learns the transport
// the request attempts ("" for other requests).
func refusalServer(t *testing.T, opts sockhop.Options, front func(w http.ResponseWriter, r *http.Request, tr string) bool) (*sockhop.Server, string, *attempts, *httptest.Server) {
	t.Helper()
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a := &attempts{at: map[string][]time.Time{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr := a.record(r)
		if front != nil && front(w, r, tr) {
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	return srv, hs.URL + "/rt", a, hs
}

// fastBackoff makes a backoff much shorter than any Retry-After of these tests, so that
// a client that ignores the server's wait shows it.
var fastBackoff = client.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

// TestRefusedOrigin: a server that refuses the Origin (HTTP 403) ends the connect at once,
// with an error that says so, and no other transport is tried.
func TestRefusedOrigin(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url, a, _ := refusalServer(t, sockhop.Options{}, nil)
		opts := fastBackoff
		opts.Transports = ladder(tr)
		opts.Header = http.Header{"Origin": {"https://evil.example"}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, url, opts)
		if err == nil {
			c.Close()
			t.Fatal("connected with a refused Origin")
		}
		if code := events.CloseCode(err); code != events.ClosePolicyViolation || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Origin") {
			t.Errorf("error %q (close code %d), want one that says 403 and Origin, with code 1008", err, code)
		}
		if n := len(a.of(tr)); n != 1 {
			t.Errorf("%d attempts on %s, want 1", n, tr)
		}
		a.others(t, tr)
	})
}

// TestComeBackLater: a server that asks the client to come back later (HTTP 429 or 503,
// or on WebSocket a 1013 close before the welcome) gets it back on the same transport,
// after the wait it asked for; the client does not walk down the transport ladder.
func TestComeBackLater(t *testing.T) {
	t.Run("sessions per address", func(t *testing.T) {
		// Past MaxSessionsPerIP: 429 with Retry-After on SockJS, a 1013 close with a retry
		// hint on WebSocket (1-3 s). The client retries after it until the first session ends.
		forEachTransport(t, func(t *testing.T, tr string) {
			_, url, a, _ := refusalServer(t, sockhop.Options{MaxSessionsPerIP: 1, ConnectRate: -1}, nil)
			first := dial(t, url, client.Options{Transports: []string{tr}})
			done := make(chan error, 1)
			var c *client.Client
			go func() {
				opts := fastBackoff
				opts.Transports = ladder(tr)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				var err error
				c, err = client.Dial(ctx, url, opts)
				done <- err
			}()
			waitFor(t, func() bool { return len(a.of(tr)) >= 3 }) // the first, refused, retried
			first.Close()
			if err := <-done; err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if c.Transport() != tr {
				t.Errorf("connected on %s, want %s", c.Transport(), tr)
			}
			a.others(t, tr)
		})
	})
	t.Run("connect rate", func(t *testing.T) {
		// Past ConnectRate: 429 with Retry-After on SockJS, a 1013 close with a retry
		// hint on WebSocket, after a second's hold. The client waits as asked. At one
		// connection in 3s, the second is held 1s and told to come back 1s later. The
		// client has this one transport only: with a ladder, a request held a second is
		// late (the scaled open timeout, ladder.go), so the next transport starts beside it
		// and is paced on its own (TestLadderScaledTimeout covers that).
		forEachTransport(t, func(t *testing.T, tr string) {
			_, url, a, _ := refusalServer(t, sockhop.Options{ConnectRate: 1.0 / 3, ConnectBurst: 1}, nil)
			first := dial(t, url, client.Options{Transports: []string{tr}})
			defer first.Close()
			opts := fastBackoff
			opts.Transports = []string{tr}
			c := dial(t, url, opts)
			defer c.Close()
			at := a.of(tr)
			if len(at) != 3 {
				t.Fatalf("%d attempts on %s, want 3: the first client's, the refused, the one after the wait", len(at), tr)
			}
			// The refusal comes after a second's hold and asks for one more second; the
			// backoff alone would have retried after 50ms at most.
			if gap := at[2].Sub(at[1]); gap < 1800*time.Millisecond {
				t.Errorf("retried %v after the refused attempt, want the hold and the retry hint (2s)", gap)
			}
			a.others(t, tr)
		})
	})
	t.Run("503 with Retry-After", func(t *testing.T) {
		forEachTransport(t, func(t *testing.T, tr string) {
			var mu sync.Mutex
			refused := 0
			_, url, a, _ := refusalServer(t, sockhop.Options{}, func(w http.ResponseWriter, r *http.Request, got string) bool {
				mu.Lock()
				defer mu.Unlock()
				if got == "" || refused > 0 {
					return false
				}
				refused++
				w.Header().Set("Retry-After", "1")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return true
			})
			c := dialLadder(t, url, tr)
			defer c.Close()
			at := a.of(tr)
			if len(at) != 2 {
				t.Fatalf("%d attempts on %s, want 2", len(at), tr)
			}
			if gap := at[1].Sub(at[0]); gap < 900*time.Millisecond {
				t.Errorf("retried %v after a 503 with Retry-After: 1", gap)
			}
			a.others(t, tr)
		})
	})
	t.Run("shutting down", func(t *testing.T) {
		// A server that shuts down answers 503 with Retry-After (whole seconds), or on
		// WebSocket closes 1001 with a retry hint after the upgrade: the client retries the
		// same transport after the hint until its context ends.
		forEachTransport(t, func(t *testing.T, tr string) {
			srv, url, a, _ := refusalServer(t, sockhop.Options{ShutdownRetry: time.Second}, nil)
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			opts := fastBackoff
			opts.Transports = ladder(tr)
			ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
			defer cancel()
			c, err := client.Dial(ctx, url, opts)
			if err == nil {
				c.Close()
				t.Fatal("connected to a server that shut down")
			}
			if code := events.CloseCode(err); code != events.CloseGoingAway {
				t.Errorf("error %v with close code %d, want 1001", err, code)
			}
			if n := len(a.of(tr)); n < 2 {
				t.Errorf("%d attempts on %s, want retries", n, tr)
			}
			a.others(t, tr)
		})
	})
}

// TestResumeComeBackLater: a client whose transport dropped and whose server answers
// its resume with a 503 and Retry-After keeps its session, waits, and resumes on the
// same transport.
func TestResumeComeBackLater(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var mu sync.Mutex
		refuse := false
		_, direct, a, hs := refusalServer(t, sockhop.Options{}, func(w http.ResponseWriter, r *http.Request, got string) bool {
			mu.Lock()
			defer mu.Unlock()
			if got == "" || !refuse {
				return false
			}
			refuse = false
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		})
		proxy, err := faultproxy.New(strings.TrimPrefix(hs.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		url := "http://" + proxy.Addr() + strings.TrimPrefix(direct, hs.URL)
		opts := fastBackoff
		opts.Transports = ladder(tr)
		c := client.New(url, opts)
		connects := make(chan struct{}, 4)
		c.OnConnect(func() { connects <- struct{}{} })
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		<-connects
		sid := c.SessionID()
		mu.Lock()
		refuse = true
		mu.Unlock()
		before := len(a.of(tr))
		dropped := make(chan struct{}, 4)
		c.OnDisconnect(func(error) { dropped <- struct{}{} })
		// The transport drops; the session waits for a resume. On xhr-polling a cut between
		// two polls meets no connection, so it is cut again until the client saw a drop.
	cut:
		for i := 0; ; i++ {
			proxy.CutAll()
			select {
			case <-dropped:
				break cut
			case <-time.After(300 * time.Millisecond):
				if i == 30 {
					t.Fatal("no drop after 30 cuts")
				}
			}
		}
		select {
		case <-connects:
		case <-time.After(10 * time.Second):
			t.Fatal("no reconnect within 10s")
		}
		if c.SessionID() != sid || c.Transport() != tr {
			t.Errorf("session %s on %s after the resume, want %s on %s", c.SessionID(), c.Transport(), sid, tr)
		}
		at := a.of(tr)
		if len(at) != before+2 {
			t.Fatalf("%d attempts on %s after the drop, want 2: the refused, the resume", len(at)-before, tr)
		}
		if gap := at[len(at)-1].Sub(at[len(at)-2]); gap < 900*time.Millisecond {
			t.Errorf("retried %v after a 503 with Retry-After: 1", gap)
		}
		a.others(t, tr)
	})
}

func dial(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	return c
}

// dialLadder dials with the fast backoff and the ladder from tr down, and checks that the
// client connected on tr itself: a refusal there must not send it down the ladder.
func dialLadder(t *testing.T, url, tr string) *client.Client {
	t.Helper()
	opts := fastBackoff
	opts.Transports = ladder(tr)
	c := dial(t, url, opts)
	if c.Transport() != tr {
		t.Errorf("connected on %s, want %s", c.Transport(), tr)
	}
	return c
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
