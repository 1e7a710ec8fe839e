package proxytest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// startChat builds and runs examples/chat (the real example, as a child process) on a free
// loopback port, and returns its address.
func startChat(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chat")
	build := exec.Command("go", "build", "-o", bin, "./examples/chat")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/chat: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := start(t, "chat", bin, "-addr", addr)
	p.waitListening(t, addr, "")
	return addr
}

// chatCheck joins the lobby of the chat page as NICK, says something and waits for it to
// come back through the room broadcast.
const chatCheck = `(async () => {
  const $ = (id) => document.getElementById(id);
  const until = async (f, what) => {
    for (let i = 0; i < 300; i++) { if (f()) return; await new Promise((r) => setTimeout(r, 50)); }
    throw new Error('chat page: no ' + what + '; status ' + $('status-text').textContent + ', messages ' + $('messages').textContent);
  };
  await until(() => $('status-text').textContent.includes('connected'), 'connection');
  await until(() => $('messages').textContent.includes('You joined #lobby as NICK'), 'join');
  $('text').value = 'hello through the proxy ✓';
  $('say-form').requestSubmit();
  await until(() => $('messages').textContent.includes('hello through the proxy ✓'), 'message back');
  return { status: $('status-text').textContent, transport: $('transport').textContent };
})()`

// TestChatExampleBehindNginx runs the chat example behind the nginx recipe and behind the
// buffering nginx: the page connects on the transport the profile promises and a message
// makes the round trip through the room.
func TestChatExampleBehindNginx(t *testing.T) {
	bin := need(t, "nginx", "browser")
	if _, err := exec.LookPath("go"); err != nil {
		testutil.MissingDep(t, "no go command to build examples/chat")
	}
	chat := startChat(t)
	b := browser.Start(t)
	for _, c := range []struct{ name, location, want string }{
		{"recipe", nginxRecipe, "websocket"},
		{"buffering", nginxScanning, "xhr-polling"},
	} {
		t.Run(c.name, func(t *testing.T) {
			px := startNginx(t, bin["nginx"], chat, c.location, nil)
			start := time.Now()
			// A nickname per subtest: the previous page's session keeps its nickname for
			// the resume grace.
			page := b.Open(t, "chat", px.url+"/?nick=ann-"+c.name, browser.Viewport{Width: 1100, Height: 900})
			defer page.Close()
			var r struct{ Status, Transport string }
			page.Eval(strings.ReplaceAll(chatCheck, "NICK", "ann-"+c.name), &r)
			t.Logf("chat page behind nginx %s: %+v (page load to message back: %v)", c.name, r, time.Since(start).Round(time.Millisecond))
			if r.Transport != "via "+c.want {
				t.Fatalf("chat page: %+v, want via %s", r, c.want)
			}
		})
	}
}
