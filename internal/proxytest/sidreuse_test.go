package proxytest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
)

// TestSockJSSessionIDReuse: a client that opens xhr_streaming with a SockJS session id,
// never says hello, drops the request after 3 s and opens xhr_streaming again with the same
// id must not crash the server. (The JS client picks a fresh id per connection, but anyone
// can send these two requests: the documented curl check run twice did.) The requests run
// in a child process, because the crash is a panic on a goroutine of sockjs-go that takes
// the whole process down.
//
// Seen: "panic: close of closed channel" at transport/sockjs/sockjs.go (*Handler).handle,
// close(c.started): sockjs-go starts a second session with the id while the Conn of the
// first, whose handshake still waits for hello, is in h.conns with started closed.
func TestSockJSSessionIDReuse(t *testing.T) {
	if os.Getenv("SOCKHOP_SIDREUSE_CHILD") == "1" {
		sidReuseChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSockJSSessionIDReuse$", "-test.v")
	cmd.Env = append(os.Environ(), "SOCKHOP_SIDREUSE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "panic:") {
		t.Fatalf("the server crashed on a reused SockJS session id: %v\n%s", err, out)
	}
}

func sidReuseChild(t *testing.T) {
	be := startBackend(t, sockhop.Options{SockJSDisconnectDelay: time.Second})
	// The window depends on timing: try a few holds, each with an id of its own.
	for _, hold := range []time.Duration{3 * time.Second, time.Second, 300 * time.Millisecond} {
		url := fmt.Sprintf("http://%s%s/sockjs/000/reused%d/xhr_streaming", be.addr, mount, hold.Milliseconds())
		for i := range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), hold)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
			req.Header.Set("X-Sockhop-Key", "sidreuse-key-0123456789abcdef") // the same key: the same owner
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			cancel()
			t.Logf("hold %v: request %d done", hold, i+1)
		}
	}
	// Is the server still alive?
	resp, err := http.Get("http://" + be.addr + mount + "/sockjs/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
