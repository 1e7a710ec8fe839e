package sockhop_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/dial"
)

// TestLimitHints: every refusal for a limit tells the client when to come back, on every
// transport: on SockJS a Retry-After (whole seconds), on WebSocket a close message after
// the upgrade with its code and a retry (ms), which a browser can read where it cannot
// read an HTTP status. (The connection rate's hint is TestConnectRate's; xhr_send's in
// flight on a session is transport/sockjs's TestSendOneInFlight.)
func TestLimitHints(t *testing.T) {
	t.Run("sessions per address", func(t *testing.T) {
		forEachTransport(t, func(t *testing.T, tr string) {
			synctest.Test(t, func(t *testing.T) {
				_, mc := memServer(t, sockhop.Options{MaxSessionsPerIP: 1, ConnectRate: -1}, nil)
				mustConnect(t, mc, tr, nil)
				wantHint(t, mc, tr, true, sockhop.CloseTryAgainLater, time.Second, 3*time.Second)
			})
		})
	})
	t.Run("handshakes under way", func(t *testing.T) {
		forEachTransport(t, func(t *testing.T, tr string) {
			synctest.Test(t, func(t *testing.T) {
				_, mc := memServer(t, sockhop.Options{MaxSessionsPerIP: 1, ConnectRate: -1}, nil)
				mc.dialRaw(t, tr) // no hello
				synctest.Wait()   // the server counts its handshake
				wantHint(t, mc, tr, false, sockhop.CloseTryAgainLater, time.Second, 3*time.Second)
			})
		})
	})
	t.Run("shutting down", func(t *testing.T) {
		forEachTransport(t, func(t *testing.T, tr string) {
			synctest.Test(t, func(t *testing.T) {
				srv, mc := memServer(t, sockhop.Options{ShutdownRetry: 2 * time.Second}, nil)
				if err := srv.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
				wantHint(t, mc, tr, false, sockhop.CloseGoingAway, 200*time.Millisecond, 2*time.Second)
			})
		})
	})
	t.Run("xhr_send bodies per address", func(t *testing.T) {
		for _, tr := range []string{client.XHRStreaming, client.XHRPolling} {
			t.Run(tr, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { sendsPerAddress(t, tr) }) })
		}
	})
}

// sendsPerAddress: an address has as many xhr_send bodies in flight as MaxSessionsPerIP
// at most; past it a body is refused, 429 with Retry-After, before it is read.
func sendsPerAddress(t *testing.T, tr string) {
	_, mc := memServer(t, sockhop.Options{MaxSessionsPerIP: 1, ConnectRate: -1}, nil)
	a := mc.dialRaw(t, tr)
	a.handshake()
	// A second SockJS session from the address, which says it resumes (so is not refused
	// for the session limit before its hello), with its hello on the way.
	b := mc.url + "/sockjs/000/secondsession/"
	path := map[string]string{client.XHRStreaming: "xhr_streaming", client.XHRPolling: "xhr"}[tr]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b+path+"?p=1&resume=1", nil)
	req.Header.Set("X-Sockhop-Key", someKey)
	res, err := mc.http.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("second session: %v %v", res, err)
	}
	defer res.Body.Close()
	if err := readUntil(res.Body, "o\n"); err != nil { // the open frame
		t.Fatalf("second session: %v", err)
	}
	// a's next body arrives slowly, so it is in flight when b's comes.
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("[")) }()
	slow := make(chan int, 1)
	go func() {
		res, err := keyedPost(mc.http, a.Conn.(interface{ URL() string }).URL()+"/xhr_send", a.Conn.(interface{ Key() string }).Key(), pr)
		if err != nil {
			t.Errorf("slow body: %v", err)
			slow <- 0
			return
		}
		res.Body.Close()
		slow <- res.StatusCode
	}()
	synctest.Wait()
	res2, err := keyedPost(mc.http, b+"xhr_send", someKey, strings.NewReader(`["{\"t\":\"hello\",\"v\":1}"]`))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if ra := res2.Header.Get("Retry-After"); res2.StatusCode != http.StatusTooManyRequests || ra < "1" || ra > "3" || len(ra) != 1 {
		t.Fatalf("a body past the address's limit: %d, Retry-After %q, want 429 and 1 to 3", res2.StatusCode, ra)
	}
	go func() { _, _ = pw.Write([]byte("]")); _ = pw.Close() }()
	if code := <-slow; code != http.StatusNoContent {
		t.Fatalf("the slow body: %d, want 204", code)
	}
	// With a's body through, b's goes.
	res2, err = keyedPost(mc.http, b+"xhr_send", someKey, strings.NewReader(`["{\"t\":\"hello\",\"v\":1}"]`))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusNoContent {
		t.Fatalf("b's body once a's is through: %d, want 204", res2.StatusCode)
	}
}

// keyedPost posts body to url with key as the SockJS session's key.
func keyedPost(hc *http.Client, url, key string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Sockhop-Key", key)
	return hc.Do(req)
}

// readUntil reads r until what it read ends with suffix.
func readUntil(r io.Reader, suffix string) error {
	var got []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(got, []byte(suffix)) {
		n, err := r.Read(b)
		got = append(got, b[:n]...)
		if err != nil && !bytes.HasSuffix(got, []byte(suffix)) {
			return err
		}
	}
	return nil
}

// wantHint dials mc and wants the connection refused with code and a retry hint within
// [lo, hi]: on WebSocket a close message after the upgrade; on SockJS an HTTP status (429
// for 1013, 503 for 1001) with Retry-After, whole seconds rounded up.
func wantHint(t *testing.T, mc *memClient, tr string, hello bool, code int, lo, hi time.Duration) {
	t.Helper()
	c, err := mc.dial(t, tr, nil)
	if tr == client.WebSocket {
		if err != nil {
			t.Fatalf("WebSocket upgrade: %v, want a close message after it", err)
		}
		if hello { // the limit applies to a new session, known as such after its hello
			c.send(`{"t":"hello","v":1}`)
		}
		m, err := c.next()
		if err != nil || m.T != "close" || m.Code != code || m.Retry < lo.Milliseconds() || m.Retry > hi.Milliseconds() {
			t.Fatalf("WebSocket connection: %+v %v, want close %d with a retry hint in [%v, %v]", m, err, code, lo, hi)
		}
		return
	}
	status := map[int]int{sockhop.CloseTryAgainLater: http.StatusTooManyRequests, sockhop.CloseGoingAway: http.StatusServiceUnavailable}[code]
	var he *dial.HTTPError
	if !errors.As(err, &he) || he.Status != status || he.RetryAfter < lo.Truncate(time.Second) || he.RetryAfter > (hi+time.Second-1).Truncate(time.Second) || he.RetryAfter == 0 {
		t.Fatalf("SockJS connection: %v (%+v), want %d with a Retry-After in [%v, %v]", err, he, status, lo, hi)
	}
}

// TestRefusalCORS: a limit refusal on SockJS is readable by a page of another allowed
// origin: it carries Access-Control-Allow-Origin and exposes Retry-After, so the browser
// client can wait as asked instead of walking down the transport ladder.
func TestRefusalCORS(t *testing.T) {
	const page = "https://app.example"
	_, url := echoServer(t, sockhop.Options{AllowedOrigins: []string{page}, MaxSessionsPerIP: 1}, nil)
	first := dialRaw(t, url, client.XHRStreaming, http.Header{"Origin": {page}})
	first.handshake()
	req, _ := http.NewRequest(http.MethodPost, url+"/sockjs/000/corsrefusal1/xhr_streaming", nil)
	req.Header.Set("Origin", page)
	req.Header.Set("X-Sockhop-Key", someKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second session from the address: %d, Retry-After %q; want 429 with a hint", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != page {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, page)
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") {
		t.Errorf("Access-Control-Expose-Headers %q does not expose Retry-After", got)
	}
}
