package sockhop_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/dial"
)

// TestAllowedHosts: with AllowedHosts set, a request whose Host is not listed (a DNS
// rebinding page's) gets 403 on every endpoint and every transport, and the client
// stops at once (terminal); a listed Host, with any port or the listed one, is served.
func TestAllowedHosts(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, base := echoServer(t, sockhop.Options{AllowedHosts: []string{"localhost"}}, nil)
		u, _ := url.Parse(base)
		port := u.Port()
		byIP := base                                                 // Host: 127.0.0.1:port, not listed
		byName := strings.Replace(base, "127.0.0.1", "localhost", 1) // Host: localhost:port
		mustEcho(t, dialClient(t, byName, tr, client.Options{}))

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := client.Dial(ctx, byIP, client.Options{Transports: []string{tr}})
		var he *dial.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden || sockhop.CloseCode(err) != sockhop.ClosePolicyViolation {
			t.Fatalf("unlisted Host: %v, want a 403 (1008)", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the client took %v to give up on a 403: it retried", d)
		}

		// Every endpoint refuses a Host that is not listed, and answers a listed one.
		for _, tc := range []struct {
			host string
			want int
		}{
			{"evil.example", http.StatusForbidden},
			{"evil.example:" + port, http.StatusForbidden},
			{"127.0.0.1:" + port, http.StatusForbidden},
			{"localhost.evil.example", http.StatusForbidden},
			{"", http.StatusForbidden},
			{"localhost", http.StatusOK},
			{"LOCALHOST.:" + port, http.StatusOK},
		} {
			for _, path := range []string{"/ws", "/sockjs/info", "/sockjs/123/abcdefgh/xhr", "/sockhop.js", "/diag"} {
				method := http.MethodGet
				if strings.HasSuffix(path, "/xhr") {
					method = http.MethodPost
				}
				req, _ := http.NewRequest(method, base+path, nil)
				req.Host = tc.host
				if path == "/ws" {
					req.Header.Set("Connection", "Upgrade")
					req.Header.Set("Upgrade", "websocket")
					req.Header.Set("Sec-WebSocket-Version", "13")
					req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
					req.Header.Set("Sec-WebSocket-Protocol", "sockhop.v1")
				}
				rctx, rcancel := context.WithTimeout(ctx, time.Second) // a poll that is let in waits
				resp, err := http.DefaultClient.Do(req.WithContext(rctx))
				if err != nil {
					rcancel()
					if tc.want == http.StatusOK && errors.Is(err, context.DeadlineExceeded) {
						continue // a long poll, served
					}
					t.Fatalf("%s %s Host %q: %v", method, path, tc.host, err)
				}
				resp.Body.Close()
				rcancel()
				refused := resp.StatusCode == http.StatusForbidden
				if refused != (tc.want == http.StatusForbidden) {
					t.Fatalf("%s %s Host %q: %d, want 403: %v", method, path, tc.host, resp.StatusCode, tc.want == http.StatusForbidden)
				}
			}
		}
	})
}

func TestAllowedHostsEntries(t *testing.T) {
	for _, bad := range [][]string{{"*"}, {""}, {"http://app.example"}, {"[app"}} {
		if _, err := sockhop.New(sockhop.Options{AllowedHosts: bad}); err == nil {
			t.Errorf("AllowedHosts %q accepted", bad)
		}
	}
	srv, err := sockhop.New(sockhop.Options{AllowedHosts: []string{"app.example", "127.0.0.1:8080", "[::1]:9000", "::1", "*.cdn.example"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for host, want := range map[string]bool{
		"app.example": true, "APP.example:443": true, "app.example.": true,
		"127.0.0.1:8080": true, "127.0.0.1:8081": false, "127.0.0.1": false,
		"[::1]:9000": true, "[::1]:1": true, "[::2]:9000": false,
		"a.cdn.example": true, "cdn.example": false, "app.example.evil": false, "evil.example": false,
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://x/rt/sockhop.js", nil)
		req.Host = host
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if got := w.Code != http.StatusForbidden; got != want {
			t.Errorf("Host %q: status %d, want allowed=%v", host, w.Code, want)
		}
	}
}
