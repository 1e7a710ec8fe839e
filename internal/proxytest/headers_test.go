package proxytest

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
)

// TestStreamingHeaders checks the server's defences against buffering intermediaries on the
// HTTP fallbacks: X-Accel-Buffering: no (nginx), a Cache-Control that forbids storing and
// transforming (caches, compressing proxies), and the 2 KiB prelude that pushes the first
// bytes through proxies that buffer a little.
func TestStreamingHeaders(t *testing.T) {
	be := startBackend(t, sockhop.Options{})
	c := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, "http://"+be.addr+mount+"/sockjs/000/hdrtest1/xhr_streaming", nil)
	req.Header.Set("X-Sockhop-Key", "hdrtest1-key-0123456789abcdef") // the session's key (PROTOCOL.md §7)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	t.Logf("xhr_streaming: %s %v", resp.Status, resp.Header)
	if got := resp.Header.Get("X-Accel-Buffering"); got != "no" {
		t.Errorf("X-Accel-Buffering = %q, want no", got)
	}
	cc := resp.Header.Get("Cache-Control")
	if !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if !strings.Contains(cc, "no-transform") {
		t.Errorf("Cache-Control = %q, want no-transform", cc)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if len(line) < 2048 || strings.Trim(line, "h\n") != "" {
		t.Errorf("prelude = %d bytes %.20q…, want 2048 h and a newline", len(line), line)
	}
}
