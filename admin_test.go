package sockhop_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/browser"
)

// adminServer is a server whose admin page lets in requests with ?key=secret, and whose
// sessions are the users their hello's auth names.
func adminServer(t *testing.T) (*sockhop.Server, string) {
	t.Helper()
	return testServer(t, sockhop.Options{
		AdminAuthorize: func(r *http.Request) bool { return r.URL.Query().Get("key") == "secret" },
		Authenticate: func(r *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
			var user string
			_ = json.Unmarshal(auth, &user)
			return sockhop.Identity{UserID: user}, nil
		},
	}, func(srv *sockhop.Server) {
		srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
			if s.Identity().UserID != "" {
				return s.Join(ctx, "room-"+s.Identity().UserID)
			}
			return nil
		})
	})
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestAdminOff: without AdminAuthorize there is no admin page.
func TestAdminOff(t *testing.T) {
	_, url := testServer(t, sockhop.Options{}, nil)
	if res, _ := get(t, url+"/admin"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("/admin without AdminAuthorize: %s, want 404", res.Status)
	}
}

var tokenRE = regexp.MustCompile(`name="sockhop-admin-token" content="([^"]+)"`)

// TestAdminAuthorization: the page needs AdminAuthorize's yes, and its events the token
// the page was served with, on every transport.
func TestAdminAuthorization(t *testing.T) {
	_, url := adminServer(t)
	res, body := get(t, url+"/admin")
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") || tokenRE.MatchString(body) {
		t.Fatalf("unauthorized /admin: %s %q %q", res.Status, res.Header.Get("WWW-Authenticate"), body)
	}
	res, body = get(t, url+"/admin?key=secret")
	m := tokenRE.FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("authorized /admin: %s, token %v", res.Status, m)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	if res, _ := get(t, url+"/admin?asset=admin.js"); res.StatusCode != http.StatusOK {
		t.Errorf("admin.js: %s", res.Status)
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		c := dialClient(t, url, tr, client.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.EmitWithAck(ctx, "sockhop:admin", map[string]string{"token": "forged", "op": "stats"})
		var e *sockhop.Error
		if !errors.As(err, &e) || e.Code != "unauthorized" {
			t.Fatalf("stats with a forged token: %v", err)
		}
		rep, err := c.EmitWithAck(ctx, "sockhop:admin", map[string]string{"token": m[1], "op": "stats"})
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Transports map[string]int `json:"transports"`
		}
		if err := json.Unmarshal(rep, &st); err != nil || st.Transports[tr] != 1 {
			t.Fatalf("stats: %s %v", rep, err)
		}
	})
}

// TestAdminBrowser drives the admin page in Chromium: live figures, screenshots on a
// desktop and a phone, and the disconnect button ending a user's session.
func TestAdminBrowser(t *testing.T) {
	browser.Require(t)
	srv, url := adminServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := dialClient(t, url, client.XHRPolling, client.Options{Auth: "alice"})
	dialClient(t, url, client.WebSocket, client.Options{Auth: "bob"})
	dialClient(t, url, client.XHRStreaming, client.Options{Auth: "carol"})
	gone := dialClient(t, url, client.WebSocket, client.Options{Auth: "dave"})
	_ = gone.Close()
	for srv.SessionCount() != 3 && ctx.Err() == nil { // dave's gone
		time.Sleep(10 * time.Millisecond)
	}
	// erin falls back: her WebSocket session resumes on xhr-polling.
	ws := dialRaw(t, url, client.WebSocket, nil)
	ws.send(`{"t":"hello","v":1,"auth":"erin"}`)
	w, err := ws.next()
	if err != nil || w.T != "welcome" {
		t.Fatalf("erin: %v %+v", err, w)
	}
	poll := dialRaw(t, url, client.XHRPolling, nil)
	poll.send(`{"t":"hello","v":1,"auth":"erin","resume":{"sid":"` + w.SID + `","token":"` + w.Token + `","seq":0}}`)
	if w2, err := poll.next(); err != nil || !w2.Resumed {
		t.Fatalf("erin's resume: %v %+v", err, w2)
	}
	aliceDone := make(chan error, 1)
	go func() { <-alice.Done(); aliceDone <- alice.Err() }()

	b := browser.Start(t)
	shots := browser.ArtifactDir(t, "admin")
	if dir := os.Getenv("SOCKHOP_ADMIN_SHOTS"); dir != "" { // to refresh docs/admin-*.png
		shots = dir
	}
	p := b.Open(t, "desk", url+"/admin?key=secret", browser.Desktop)
	// Refused without authorization, from the browser too (a navigation would stop at
	// headless Chromium's Basic prompt).
	var status int
	p.Eval("fetch('admin', {credentials: 'omit'}).then(r => r.status, e => String(e))", &status)
	if status != http.StatusUnauthorized {
		t.Errorf("/admin without the key, from the page: %d, want 401", status)
	}
	p.Wait("window.sockhopAdmin && window.sockhopAdmin.updates >= 2")
	var st struct {
		Transports map[string]int `json:"transports"`
		Fallbacks  []int          `json:"fallbacks"`
		Closes     []struct {
			Code int    `json:"code"`
			User string `json:"user"`
		} `json:"closes"`
	}
	p.Eval("window.sockhopAdmin.last", &st)
	// alice, bob, carol, erin and the page's own session.
	if sum := st.Fallbacks[len(st.Fallbacks)-1] + st.Fallbacks[len(st.Fallbacks)-2]; sum != 1 {
		t.Errorf("fallbacks %v, want 1 in the last two minutes", st.Fallbacks)
	}
	if st.Transports["xhr-polling"] != 2 || st.Transports["xhr-streaming"] != 1 || st.Transports["websocket"] < 1 {
		t.Errorf("transports %v", st.Transports)
	}
	if len(st.Closes) != 1 || st.Closes[0].User != "dave" || st.Closes[0].Code != 1000 {
		t.Errorf("closes %+v", st.Closes)
	}
	p.WaitText("#rooms", "room-alice")
	p.Screenshot(filepath.Join(shots, "admin-desktop.png"), true)
	m := b.Open(t, "phone", url+"/admin?key=secret", browser.Phone)
	m.Wait("window.sockhopAdmin && window.sockhopAdmin.updates >= 2")
	m.Screenshot(filepath.Join(shots, "admin-phone.png"), true)

	p.Fill("#user", "alice")
	p.Click("#find button")
	p.WaitText("#find-result", "1 session")
	p.Click("#disconnect")
	p.Wait("window.sockhopAdmin.disconnected === 1")
	select {
	case err := <-aliceDone:
		if sockhop.CloseCode(err) != sockhop.CloseKicked {
			t.Errorf("alice's session ended with %v, want %d", err, sockhop.CloseKicked)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice's session did not end after the disconnect button")
	}
	p.WaitText("#closes", "alice")
}
