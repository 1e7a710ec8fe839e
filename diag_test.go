package sockhop_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// TestDiagPage: the connectivity doctor's page and assets are served with a strict CSP, no
// framing, no caching, and nothing else is served through ?asset=.
func TestDiagPage(t *testing.T) {
	srv, url := testServer(t, sockhop.Options{}, nil)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct{ path, ctype, has string }{
		{"/diag", "text/html", "sockhop.js?v=" + srv.ClientJSVersion()},
		{"/diag?asset=diag.js", "text/javascript", "window.sockhopDiag"},
		{"/diag?asset=diag.css", "text/css", ".verdict"},
	} {
		resp, body := get(c.path)
		h := resp.Header
		if resp.StatusCode != 200 || !strings.HasPrefix(h.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.has) {
			t.Errorf("%s: %s %s, body has %q: %v", c.path, resp.Status, h.Get("Content-Type"), c.has, strings.Contains(body, c.has))
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", c.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q allows unsafe sources", c.path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", c.path, h)
		}
	}
	_, body := get("/diag")
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page has inline script or style, or an external reference")
	}
	for _, bad := range []string{"index.html", "../diag.go", "diag", "x.js"} {
		if resp, _ := get("/diag?asset=" + bad); resp.StatusCode != http.StatusNotFound {
			t.Errorf("?asset=%s: %s, want 404", bad, resp.Status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/diag", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /diag: %s, want 405", resp.Status)
	}
}

func TestDiagDisabled(t *testing.T) {
	_, url := testServer(t, sockhop.Options{DisableDiag: true}, nil)
	resp, err := http.Get(url + "/diag")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /diag with DisableDiag: %s, want 404", resp.Status)
	}
	c := dialClient(t, url, client.WebSocket, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, "sockhop:diag", 1); err == nil {
		t.Error("sockhop:diag answered with DisableDiag")
	}
}

// TestDiagRoundTrip: on every transport the diag event echoes its data and reports which
// proxy headers the opening request had, by presence, and never what Cookie or
// Authorization held.
func TestDiagRoundTrip(t *testing.T) {
	_, url := testServer(t, sockhop.Options{}, nil)
	forEachTransport(t, func(t *testing.T, tr string) {
		h := http.Header{}
		h.Set("X-Forwarded-For", "203.0.113.7")
		h.Set("X-Forwarded-Proto", "https")
		h.Set("Via", "1.1 proxy.example")
		h.Set("Cookie", "session=SECRET1")
		h.Set("Authorization", "Bearer SECRET2")
		c := dialClient(t, url, tr, client.Options{Header: h})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		raw, err := c.EmitWithAck(ctx, "sockhop:diag", map[string]any{"i": 1, "text": "héllo ✓"})
		if err != nil {
			t.Fatal(err)
		}
		if s := string(raw); strings.Contains(s, "SECRET") || strings.Contains(s, "203.0.113.7") {
			t.Fatalf("the diag reply leaks a header value: %s", s)
		}
		var rep struct {
			Echo      map[string]any `json:"echo"`
			Transport string         `json:"transport"`
			Headers   map[string]any `json:"headers"`
		}
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Echo["text"] != "héllo ✓" || rep.Transport != tr {
			t.Errorf("reply %s", raw)
		}
		want := map[string]any{"via": true, "via_value": "1.1 proxy.example", "x_forwarded_for": true,
			"x_forwarded_proto": "https", "forwarded": false}
		for k, v := range want {
			if rep.Headers[k] != v {
				t.Errorf("headers[%s] = %v, want %v (reply %s)", k, rep.Headers[k], v, raw)
			}
		}
	})
}
