package browsertest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
)

// TestServerBugSockJSReopenedSession: a SockJS poll interrupted by the network makes
// sockjs-go close and forget its session; the next poll with the same session id (a browser
// retrying a POST on a fresh connection, or a client that polls again) makes sockjs-go start a
// new session with that id, and transport/sockjs's handle finds the old Conn still registered
// and closes its started channel a second time: "panic: close of closed channel", which takes
// the whole server process down. Seen in TestResumeUnderCuts/xhr-polling. The panic cannot be
// caught from the test; transport/sockjs now closes such a session with 1006 instead.
func TestServerBugSockJSReopenedSession(t *testing.T) {
	a := newApp(t, sockhop.Options{}, "")
	base := a.ts.URL + "/rt/sockjs/000/reopenedSession1/"
	post := func(ctx context.Context, path, body string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(body))
		req.Header.Set("X-Sockhop-Key", "reopenedSession1-key-0123456789") // the session's key (PROTOCOL.md §7)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	ctx := context.Background()
	if got, err := post(ctx, "xhr", ""); got != "o\n" || err != nil {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := post(ctx, "xhr_send", `["{\"t\":\"hello\",\"v\":1}"]`); err != nil {
		t.Fatal(err)
	}
	if got, err := post(ctx, "xhr", ""); !strings.Contains(got, "welcome") || err != nil {
		t.Fatalf("welcome: %q %v", got, err)
	}
	// A poll cut by the network: sockjs-go closes the session.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, _ = post(cctx, "xhr", "")
	cancel()
	time.Sleep(200 * time.Millisecond)
	// The same id polled again: the server must answer (a close frame, or a new open frame
	// the client takes as "session lost"), not panic.
	got, err := post(ctx, "xhr", "")
	t.Logf("poll after the interrupted one: %q %v", got, err)
	time.Sleep(200 * time.Millisecond)
}
