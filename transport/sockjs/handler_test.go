package sockjs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestOffMeansOff: what sockhop keeps off is not served at all (the iframe pages, the
// other SockJS transports), and a session path whose ids are outside PROTOCOL.md §1's
// alphabet and lengths is refused before sockjs-go sees it (it would make a session of
// any id, a 500 KiB one included).
func TestOffMeansOff(t *testing.T) {
	h := New(Options{MaxMessageSize: 1024, CheckOrigin: func(*http.Request) bool { return true }},
		func(c *Conn, _ *http.Request) { t.Errorf("a session started") })
	tests := []struct {
		method, rest string
		status       int
	}{
		{"GET", "", http.StatusOK}, // sockjs-go's greeting
		{"GET", "/info", http.StatusOK},
		{"GET", "/iframe.html", http.StatusNotFound},
		{"GET", "/iframe-0123456789abcdef.html", http.StatusNotFound},
		{"GET", "/iframe-a.b_c.html", http.StatusNotFound},
		{"GET", "/000/abcdefgh/websocket", http.StatusNotFound},
		{"GET", "/000/abcdefgh/eventsource", http.StatusNotFound},
		{"GET", "/000/abcdefgh/htmlfile", http.StatusNotFound},
		{"GET", "/000/abcdefgh/jsonp", http.StatusNotFound},
		{"POST", "/000/abcdefgh/jsonp_send", http.StatusNotFound},
		{"GET", "/websocket", http.StatusNotFound},
		{"POST", "/0000/abcdefgh/xhr", http.StatusNotFound},
		{"POST", "/00/abcdefgh/xhr", http.StatusNotFound},
		{"POST", "/abc/abcdefgh/xhr", http.StatusNotFound},
		{"POST", "/000/abcdefg/xhr", http.StatusNotFound},
		{"POST", "/000/abc+defgh/xhr_streaming", http.StatusNotFound},
		{"POST", "/000/abc%20defgh/xhr_streaming", http.StatusNotFound},
		{"POST", "/000/" + strings.Repeat("a", 65) + "/xhr", http.StatusNotFound},
		{"POST", "/000/" + strings.Repeat("a", 500<<10) + "/xhr", http.StatusNotFound},
		{"POST", "/000/" + strings.Repeat("a", 500<<10) + "/xhr_send", http.StatusNotFound},
		{"OPTIONS", "/000/" + strings.Repeat("a", 500<<10) + "/xhr_send", http.StatusNotFound},
		{"OPTIONS", "/000/abcdefgh/xhr_send", http.StatusNoContent}, // a CORS preflight
		{"POST", "/000/abcdefgh/xhr_send", http.StatusNotFound},     // a valid id, no such session
	}
	for _, tc := range tests {
		// A request let through would open a stream: it ends with its context.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r := httptest.NewRequestWithContext(ctx, tc.method, "/sockjs"+tc.rest, strings.NewReader(`["x"]`))
		r.Header.Set(KeyHeader, testKey) // past the key check: what is refused here is refused for its path
		w := httptest.NewRecorder()
		h.Serve(w, r, tc.rest)
		cancel()
		name := tc.method + " " + tc.rest[:min(len(tc.rest), 40)]
		if w.Code != tc.status {
			t.Errorf("%s: %d, want %d", name, w.Code, tc.status)
		}
		if cc := w.Header().Get("Cache-Control"); w.Code == http.StatusNotFound && strings.Contains(cc, "public") {
			t.Errorf("%s: a refusal cached publicly (%s)", name, cc)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) != 0 {
		t.Errorf("%d sessions made", len(h.conns))
	}
}

// sessionPath is what matchSession matches.
var sessionPath = regexp.MustCompile(`^/([0-9]{3}|n[a-z0-9]{3,31})/([A-Za-z0-9_-]{8,64})/(xhr|xhr_send|xhr_streaming)$`)

// FuzzMatchSession: matchSession matches what sessionPath does, with the same parts.
func FuzzMatchSession(f *testing.F) {
	for _, s := range []string{"/000/abcdefgh/xhr", "/n0a9/abcdefgh_-AZ09/xhr_send", "/123/" + strings.Repeat("a", 64) + "/xhr_streaming",
		"/123/" + strings.Repeat("a", 65) + "/xhr", "/n12/abcdefgh/xhr", "/n" + strings.Repeat("z", 31) + "/abcdefgh/xhr", "/n" + strings.Repeat("z", 32) + "/abcdefgh/xhr",
		"/0000/abcdefgh/xhr", "/000/abcdefg/xhr", "/000/abcdefgh/xhr/", "/000/abcdefgh/websocket", "000/abcdefgh/xhr", "/000/abc.defgh/xhr", "/nA12/abcdefgh/xhr", "", "/", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		sid, kind, ok := matchSession(rest)
		m := sessionPath.FindStringSubmatch(rest)
		if ok != (m != nil) || ok && (sid != m[2] || kind != m[3]) {
			t.Fatalf("%q: matchSession %q %q %v, the expression %q", rest, sid, kind, ok, m)
		}
	})
}

func TestQueryUint(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  uint64
	}{
		{"", 0}, {"p=12", 12}, {"s=3&p=7", 7}, {"p=7&p=8", 7}, {"p=", 0}, {"p=x", 0}, {"p=-1", 0}, {"pp=3", 0}, {"p", 0},
		{"p=%31%32", 12}, {"%70=5", 5}, {"a+b=1&p=4", 4}, {"p=1;x", 0}, {"p=18446744073709551616", 0},
	} {
		r := httptest.NewRequest("POST", "/sockjs/000/abcdefgh/xhr?"+tc.query, nil)
		n, err := strconv.ParseUint(r.URL.Query().Get("p"), 10, 64)
		if err != nil {
			n = 0
		}
		if got := queryUint(r, "p"); got != tc.want || got != n {
			t.Errorf("%q: %d, want %d (url.Values: %d)", tc.query, got, tc.want, n)
		}
	}
}

// TestPollAgainAtOnce: a client that polls again as soon as a poll was answered is never
// answered c[2010,"Another connection still open"]. sockjs-go lets go of the previous poll
// on a goroutine of its own, after its answer was written, and answered such a poll 2010
// whenever that goroutine had not run yet (a few in a hundred polls of a busy server); the
// client then waited and polled again. Several sessions poll at once, so that the
// goroutines compete for the processors as on a busy server.
func TestPollAgainAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const sessions, polls = 8, 100
		hc, open := sendServer(t, Options{})
		var wg sync.WaitGroup
		for i := range sessions {
			c, base := open(fmt.Sprintf("again%03d", i))
			taken := make(chan struct{}) // one message per poll
			wg.Go(func() {
				for range polls {
					if err := c.WriteFrame([][]byte{[]byte("m")}); err != nil {
						t.Errorf("WriteFrame: %v", err)
						return
					}
					if _, ok := <-taken; !ok {
						return
					}
				}
			})
			wg.Go(func() {
				for n := 0; n < polls; {
					res, err := hc.Post(base+"xhr", "text/plain", nil)
					if err != nil {
						t.Errorf("poll: %v", err)
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					switch string(b) {
					case "a[\"m\"]\n":
						n++
						taken <- struct{}{}
					case another:
						t.Errorf("session %d, poll %d: answered %q", i, n, b)
					default:
						t.Errorf("session %d, poll %d: %d %q", i, n, res.StatusCode, b)
						close(taken)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// TestOneFrameAheadOfThePoll: with no receiving request attached, one frame is handed to
// sockjs-go at once, so that the next poll is answered with it without waiting for a
// writer; a second frame waits for a poll (sockhop's queue stays the bound), and the
// frames reach the client once each, in order.
func TestOneFrameAheadOfThePoll(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hc, open := sendServer(t, Options{})
		c, base := open("ahead001")
		write := func(m string) chan error {
			done := make(chan error, 1)
			go func() { done <- c.WriteFrame([][]byte{[]byte(m)}) }()
			synctest.Wait()
			return done
		}
		poll := func() string {
			res, err := hc.Post(base+"xhr", "text/plain", nil)
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return string(b)
		}
		for round := range 3 {
			first, second := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
			select {
			case err := <-write(first):
				if err != nil {
					t.Fatalf("round %d: WriteFrame: %v", round, err)
				}
			default:
				t.Fatalf("round %d: the first frame waited for a poll", round)
			}
			waiting := write(second)
			select {
			case err := <-waiting:
				t.Fatalf("round %d: a second frame did not wait for a poll (%v)", round, err)
			default:
			}
			got := poll()
			if err := <-waiting; err != nil {
				t.Fatalf("round %d: WriteFrame: %v", round, err)
			}
			if got == fmt.Sprintf("a[%q]\n", first) {
				got += poll() // the second came after the first poll's answer
			}
			if want := fmt.Sprintf("a[%q]\na[%q]\n", first, second); got != want && got != fmt.Sprintf("a[%q,%q]\n", first, second) {
				t.Fatalf("round %d: polls answered %q, want %q once each, in order", round, got, []string{first, second})
			}
		}
	})
}
