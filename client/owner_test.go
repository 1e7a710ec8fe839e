package client_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
)

// TestSquattedSessionID: a client's SockJS session id is bound to its key for as long as
// its sockhop session lives (the SockJS session's server side serves it through every
// resume). Once that ended (here its resume grace expired while the network held the
// client's request), the server forgets the id, and someone who read it in a log can make
// a new SockJS session under it with a key of his own. The client's held request then gets
// 403: not the Origin (its session's first request passed that), so the client connects
// again, as it would after a resume grace expired, instead of stopping (PROTOCOL.md §7).
func TestSquattedSessionID(t *testing.T) {
	for _, tr := range []string{client.XHRStreaming, client.XHRPolling} {
		t.Run(tr, func(t *testing.T) {
			var mu sync.Mutex
			hold := false
			held := make(chan string, 1)   // the SockJS session path of the request held
			release := make(chan struct{}) // lets it through
			var once sync.Once
			open := func() { once.Do(func() { close(release) }) }
			receiving := regexp.MustCompile(`^(/rt/sockjs/[^/]+/[^/]+)/(xhr|xhr_streaming)$`)
			srv, url, _, hs := refusalServer(t, sockhop.Options{SockJSDisconnectDelay: 100 * time.Millisecond, ResumeGrace: 200 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request, _ string) bool {
				m := receiving.FindStringSubmatch(r.URL.Path)
				mu.Lock()
				h := hold && m != nil && r.Header.Get("X-Test-Attacker") == ""
				hold = hold && !h
				mu.Unlock()
				if h { // a network that holds the client's request until the server lost the session
					held <- m[1]
					<-release
				}
				return false
			})
			t.Cleanup(open) // before the server's cleanup, which waits for its requests
			sessions := make(chan *sockhop.Session, 4)
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
				sessions <- s
				return nil
			})
			c := client.New(url, client.Options{Transports: []string{tr}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			connects := make(chan struct{}, 4)
			c.OnConnect(func() { connects <- struct{}{} })
			reasons := make(chan error, 4)
			c.OnDisconnect(func(reason error) { reasons <- reason })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			<-connects
			s := <-sessions
			sid := c.SessionID()

			// 200 messages of 1 KiB: more than a stream carries (128 KiB), so the client
			// opens its next receiving request, which the network holds.
			mu.Lock()
			hold = true
			mu.Unlock()
			const n = 200
			pad := strings.Repeat("x", 1024)
			for i := 1; i <= n; i++ {
				if err := s.Emit(ctx, "n", map[string]any{"i": i, "p": pad}); err != nil {
					t.Fatal(err)
				}
			}
			var path string
			select {
			case path = <-held:
			case <-time.After(10 * time.Second):
				t.Fatal("the client opened no next receiving request")
			}
			// The server ends the SockJS session after 100 ms without a receiving request, the
			// sockhop session 200 ms later, and forgets the id 100 ms after that; then the
			// attacker takes it.
			var squat int
			start := time.Now()
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				req, _ := http.NewRequest(http.MethodPost, hs.URL+path+"/xhr", nil)
				req.Header.Set("X-Sockhop-Key", "attackerattackerattackerattacker")
				req.Header.Set("X-Test-Attacker", "1")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
				resp.Body.Close()
				if squat = resp.StatusCode; squat == http.StatusOK && string(b) == "o\n" {
					break
				}
			}
			if squat != http.StatusOK {
				t.Fatalf("the attacker could not take the lost session's id: %d", squat)
			}
			t.Logf("the id was taken %v after the request was held", time.Since(start).Round(time.Millisecond))
			open() // the client's request reaches the server: 403
			select {
			case <-connects:
			case <-c.Done():
				t.Fatalf("the client stopped: %v", c.Err())
			case <-time.After(10 * time.Second):
				t.Fatal("no resume within 10s")
			}
			select {
			case r := <-reasons:
				if code := events.CloseCode(r); code != events.CloseAbnormal {
					t.Errorf("disconnected with %d (%v), want 1006: a lost transport, not a refused Origin", code, r)
				}
			default:
				t.Error("no disconnect reported")
			}
			if c.SessionID() == sid || c.SessionID() == "" {
				t.Errorf("session %q after the 403, want a new one (%q expired)", c.SessionID(), sid)
			}
		})
	}
}
