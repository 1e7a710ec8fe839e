package proxytest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/testutil"
)

// The curl checks of docs/proxies.md ("Checking with curl"), run against the recipe, a bare
// proxy_pass and a buffering nginx.

func curl(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "curl", args...).Output() // --max-time ends with an error
	return string(out)
}

// wsCheck is the documented handshake check; it prints the status code.
func wsCheck(t *testing.T, base string) string {
	return strings.TrimSpace(curl(t, 10*time.Second, "-si", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}\n",
		"-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
		"-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "-H", "Sec-WebSocket-Protocol: sockhop.v1",
		"--max-time", "3", base+mount+"/ws"))
}

// streamCheck is the documented streaming check: the first 2,051 bytes and how long they took.
func streamCheck(t *testing.T, base string) (string, time.Duration) {
	start := time.Now()
	out := curl(t, 10*time.Second, "-sN", "-X", "POST", "-H", "X-Sockhop-Key: curlcheck-0123456789abcdefgh", "--max-time", "3", base+mount+"/sockjs/000/curl"+strings.ReplaceAll(t.Name(), "/", "")+strings.Trim(base[len(base)-5:], ":")+"/xhr_streaming")
	if len(out) > 2051 {
		out = out[:2051]
	}
	return out, time.Since(start)
}

func TestCurlChecks(t *testing.T) {
	bin := need(t, "nginx")
	if _, err := exec.LookPath("curl"); err != nil {
		testutil.MissingDep(t, "no curl")
	}
	be := startBackend(t, sockhop.Options{})
	recipe := startNginx(t, bin["nginx"], be.addr, nginxRecipe, nil)
	bare := startNginx(t, bin["nginx"], be.addr, nginxBare, nil)
	scanning := startNginx(t, bin["nginx"], be.addr, nginxScanning, nil)

	if got := wsCheck(t, recipe.url); got != "101" {
		t.Errorf("recipe: handshake answered %q, want 101", got)
	}
	if got := wsCheck(t, bare.url); got != "400" {
		t.Errorf("bare proxy_pass: handshake answered %q, want 400", got)
	}
	// The prelude and the open frame arrive while the stream is still open (curl stops it
	// at 3 s); how long curl took is not checked: a loaded machine starts it late.
	out, took := streamCheck(t, recipe.url)
	if !strings.HasSuffix(out, "h\no\n") {
		t.Errorf("recipe: stream gave %d bytes ending %q in %v", len(out), out[max(0, len(out)-5):], took)
	}
	// Through the buffering proxy the bytes arrive only when the response ends: not
	// within curl's 3 s.
	if out, _ := streamCheck(t, scanning.url); len(out) != 0 {
		t.Errorf("buffering proxy: stream gave %d bytes within 3 s, want none", len(out))
	}
}
