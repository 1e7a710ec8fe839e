package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
)

// A SockJS session belongs to the client that made it (PROTOCOL.md §7, SECURITY.md): its id
// is in every request path, so it lands in access logs, but every request for it must carry
// the session's key, in the X-Sockhop-Key header, which never appears in a URL.

// accessLog records the path of every request, as a proxy's access log does.
type accessLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *accessLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.paths = append(l.paths, r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

var sessionURL = regexp.MustCompile(`^(/rt/sockjs/[^/.]+/[^/.]+)/(xhr|xhr_streaming|xhr_send)$`)

// session returns the SockJS session path (/rt/sockjs/<server>/<session>) the log saw
// first, as an attacker reading the log would.
func (l *accessLog) session(t *testing.T) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.paths {
		if m := sessionURL.FindStringSubmatch(p); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no SockJS session in the access log: %q", l.paths)
	return ""
}

// ownerServer is a sockhop server behind an access log. Its "steal" event counts what an
// attacker managed to run as the victim; each new session is sent to sessions.
type ownerServer struct {
	srv      *sockhop.Server
	url      string // the base URL: http://127.0.0.1:port/rt
	host     string // http://127.0.0.1:port
	log      *accessLog
	stolen   atomic.Int64
	sessions chan *sockhop.Session
}

func newOwnerServer(t *testing.T, opts sockhop.Options) *ownerServer {
	t.Helper()
	ts := &ownerServer{log: &accessLog{}, sessions: make(chan *sockhop.Session, 8)}
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
		ts.sessions <- s
		return nil
	})
	sockhop.On(srv, "steal", func(ctx context.Context, s *sockhop.Session, _ int) error {
		ts.stolen.Add(1)
		return nil
	})
	sockhop.OnRequest(srv, "inc", func(ctx context.Context, s *sockhop.Session, k int) (int, error) {
		return k + 1, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	hs := httptest.NewServer(ts.log.wrap(mux))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	ts.host, ts.url = hs.URL, hs.URL+"/rt"
	return ts
}

// victim is a Go client that must not notice any attack: it does not reconnect, so a
// transport lost is a session lost, and it records every numbered message.
type victim struct {
	c            *client.Client
	srv          *sockhop.Session // its session on the server
	sid          string
	tr           string
	disconnected atomic.Int64
	mu           sync.Mutex
	got          []int
}

func newVictim(t *testing.T, ts *ownerServer, tr string) *victim {
	t.Helper()
	v := &victim{tr: tr}
	c := client.New(ts.url, client.Options{Transports: []string{tr}, NoReconnect: true})
	c.On("n", func(ctx context.Context, data json.RawMessage) {
		var n int
		_ = json.Unmarshal(data, &n)
		v.mu.Lock()
		v.got = append(v.got, n)
		v.mu.Unlock()
	})
	c.OnDisconnect(func(error) { v.disconnected.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("victim: connect %s: %v", tr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	v.c, v.sid = c, c.SessionID()
	select {
	case v.srv = <-ts.sessions:
	case <-time.After(10 * time.Second):
		t.Fatal("victim: no session on the server")
	}
	return v
}

// check verifies that the victim kept its session on its transport and received exactly
// 1..n, in order, and that its own sends still get through.
func (v *victim) check(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if reply, err := v.c.EmitWithAck(ctx, "inc", 41); err != nil || string(reply) != "42" {
		t.Errorf("victim: its own emit after the attack: %s %v", reply, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v.mu.Lock()
		k := len(v.got)
		v.mu.Unlock()
		if k >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	v.mu.Lock()
	got := append([]int(nil), v.got...)
	v.mu.Unlock()
	bad := len(got) != n
	for i := range got {
		if got[i] != i+1 {
			bad = true
		}
	}
	if bad {
		t.Errorf("victim received %d of %d messages, in order: %v", len(got), n, got)
	}
	if d := v.disconnected.Load(); d > 0 {
		t.Errorf("victim was disconnected %d times: %v", d, v.c.Err())
	}
	select {
	case <-v.c.Done():
		t.Errorf("victim's client ended: %v", v.c.Err())
	default:
	}
	if v.c.SessionID() != v.sid || v.c.Transport() != v.tr {
		t.Errorf("victim now on session %q over %s, was %q over %s", v.c.SessionID(), v.c.Transport(), v.sid, v.tr)
	}
}

// emit sends the victim 1..n, every, from the server.
func (v *victim) emit(n int, every time.Duration) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for i := 1; i <= n; i++ {
			if v.srv.Emit(context.Background(), "n", i) != nil {
				return
			}
			time.Sleep(every)
		}
	}()
	return ch
}

// someKey is a well-formed key that is not the victim's.
const someKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// attackSession posts path (below the victim's SockJS session) with body, with no key and with a
// key of the attacker's, and returns each answer's status (0: no answer within the time
// the attacker waits; -1: a network error).
func attackSession(t *testing.T, host, session, path, body string) []int {
	var out []int
	for _, key := range []string{"", someKey} {
		// A refusal comes at once; a request that reached the session would hang as a poll
		// or stream until the next heartbeat (25 s). 2 s tells them apart on a loaded
		// machine, where eleven of these run in parallel under -race (300 ms did not).
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, host+session+path, rd)
		if key != "" {
			req.Header.Set("X-Sockhop-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		switch {
		case err != nil && ctx.Err() != nil:
			out = append(out, 0)
		case err != nil:
			out = append(out, -1)
		default:
			_, _ = io.Copy(io.Discard, resp.Body) // what a poll or a stream would take
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		cancel()
	}
	return out
}

// TestSessionOwner: an attacker who read a victim's SockJS session id from the access log,
// but has not its key, can neither send as the victim (1), close its session (2), take
// messages off its stream or polls (3), nor make the server drop its receiving request (4):
// every such request is refused with 403 before it reaches the session, and the victim
// keeps its session and receives every message once, in order.
func TestSessionOwner(t *testing.T) {
	for _, tr := range []string{client.XHRStreaming, client.XHRPolling} {
		t.Run(tr, func(t *testing.T) {
			attacks := []struct{ name, path, body string }{
				// 1: an event run as the victim; the high number would also make the server
				// drop the victim's own next sends as retries.
				{"send", "/xhr_send?s=1000000", `["{\"t\":\"ev\",\"n\":\"steal\",\"d\":1}"]`},
				{"send-unnumbered", "/xhr_send", `["{\"t\":\"ev\",\"n\":\"steal\",\"d\":1}"]`},
				// 2: a close for good (1000 is terminal: the client would not reconnect).
				{"close", "/xhr_send", `["{\"t\":\"close\",\"code\":1000}"]`},
				// 2 again: bodies the server answers by closing the session with a terminal
				// code (1009, 1007, 1002).
				{"close-too-big", "/xhr_send", `["` + strings.Repeat("x", 140000) + `"]`},
				{"close-bad-utf8", "/xhr_send", "[\"\xff\"]"},
				{"close-bad-json", "/xhr_send", `{"not":"an array"}`},
				// 3: receiving requests of either kind, unnumbered, that would take what the
				// server writes while they are attached.
				{"take-poll", "/xhr", ""},
				{"take-stream", "/xhr_streaming", ""},
				// 4: a receiving request number already used: "receive request retried"; and
				// a high one, which would make the victim's next request look retried.
				{"retried-poll", "/xhr?p=1", ""},
				{"retried-stream", "/xhr_streaming?p=1", ""},
				{"ahead-poll", "/xhr?p=1000000", ""},
			}
			for _, a := range attacks {
				t.Run(a.name, func(t *testing.T) {
					t.Parallel()
					ts := newOwnerServer(t, sockhop.Options{})
					v := newVictim(t, ts, tr)
					session := ts.log.session(t)
					const n = 60
					done := v.emit(n, 5*time.Millisecond)
					statuses := map[int]int{}
					for range 10 {
						for _, s := range attackSession(t, ts.host, session, a.path, a.body) {
							statuses[s]++
						}
					}
					<-done
					if len(statuses) != 1 || statuses[http.StatusForbidden] == 0 {
						t.Errorf("attack %s on %s: answers %v, want only 403", a.name, session, statuses)
					}
					if k := ts.stolen.Load(); k > 0 {
						t.Errorf("the attacker ran %d events as the victim", k)
					}
					v.check(t, n)
				})
			}
		})
	}
}

// TestSessionKeyRequired: a SockJS session is made only with a key; a request without one,
// or with a malformed one, is refused with 400 naming the header, and creates nothing.
func TestSessionKeyRequired(t *testing.T) {
	ts := newOwnerServer(t, sockhop.Options{})
	for _, kind := range []string{"xhr", "xhr_streaming"} {
		for i, key := range []string{"", "short", strings.Repeat("A", 21), strings.Repeat("A", 200), strings.Repeat("A", 21) + "."} {
			t.Run(fmt.Sprintf("%s/%d", kind, i), func(t *testing.T) {
				sid := fmt.Sprintf("/rt/sockjs/000/nokey%s%d", strings.ReplaceAll(kind, "_", ""), i)
				req, _ := http.NewRequest(http.MethodPost, ts.host+sid+"/"+kind, nil)
				if key != "" {
					req.Header.Set("X-Sockhop-Key", key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "X-Sockhop-Key") {
					t.Fatalf("no key: %d %.200q, want 400 naming X-Sockhop-Key", resp.StatusCode, b)
				}
				// Nothing was made: the same id with a key opens a session.
				req, _ = http.NewRequest(http.MethodPost, ts.host+sid+"/xhr", nil)
				req.Header.Set("X-Sockhop-Key", someKey)
				resp, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(b) != "o\n" {
					t.Fatalf("then with a key: %d %.200q, want 200 o", resp.StatusCode, b)
				}
			})
		}
	}
}

// TestSessionKeyCORS: a browser on an allowed origin may send the key header (the
// preflight allows it), a page on another origin may not; and the refusal of a wrong key
// is readable by the page that made the session (it carries the CORS headers).
func TestSessionKeyCORS(t *testing.T) {
	ts := newOwnerServer(t, sockhop.Options{AllowedOrigins: []string{"https://app.example"}})
	for _, kind := range []string{"xhr", "xhr_streaming", "xhr_send"} {
		for _, origin := range []string{"https://app.example", "https://evil.example"} {
			req, _ := http.NewRequest(http.MethodOptions, ts.host+"/rt/sockjs/000/corstest1/"+kind, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "x-sockhop-key")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			allowed := strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-sockhop-key") &&
				resp.Header.Get("Access-Control-Allow-Origin") == origin
			if want := origin == "https://app.example"; allowed != want || want && resp.StatusCode != http.StatusNoContent || !want && resp.StatusCode != http.StatusForbidden {
				t.Errorf("preflight of %s from %s: %d, headers %v; want allowed=%v", kind, origin, resp.StatusCode, resp.Header, want)
			}
		}
	}
	// A session made from the allowed origin; a request with another key gets a 403 the
	// page can read.
	req, _ := http.NewRequest(http.MethodPost, ts.host+"/rt/sockjs/000/corstest2/xhr", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("X-Sockhop-Key", someKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodPost, ts.host+"/rt/sockjs/000/corstest2/xhr", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("X-Sockhop-Key", "B"+someKey[1:])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("wrong key: %d %v, want 403 with Access-Control-Allow-Origin", resp.StatusCode, resp.Header)
	}
}

// TestResumeWithLeakedSID: a sockhop session id alone (as a log may leak it) does not
// resume the session: the resume token is required, and travels only in the hello. The
// attacker gets a session of its own; the victim keeps its session and every message.
func TestResumeWithLeakedSID(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		ts := newOwnerServer(t, sockhop.Options{})
		v := newVictim(t, ts, tr)
		const n = 40
		done := v.emit(n, 5*time.Millisecond)
		for _, hello := range []string{
			fmt.Sprintf(`{"t":"hello","v":1,"resume":{"sid":%q,"seq":0}}`, v.sid),
			fmt.Sprintf(`{"t":"hello","v":1,"resume":{"sid":%q,"token":"","seq":0}}`, v.sid),
			fmt.Sprintf(`{"t":"hello","v":1,"resume":{"sid":%q,"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","seq":0}}`, v.sid),
		} {
			a := dialRaw(t, ts.url, client.WebSocket, nil)
			a.send(hello)
			w, err := a.nextTimeout(5 * time.Second)
			if err != nil || w.T != events.TypeWelcome || w.Resumed || w.SID == v.sid {
				t.Errorf("resume with the sid alone %s: %+v %v, want a new session", hello, w, err)
			}
			select { // the attacker's own
			case <-ts.sessions:
			case <-time.After(5 * time.Second):
				t.Error("no new session for the attacker")
			}
			a.Close(1000, "")
		}
		<-done
		v.check(t, n)
	})
}
