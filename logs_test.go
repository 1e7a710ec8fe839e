package sockhop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// logBuffer collects JSON log lines, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the records logged so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLogs: at Info, a session logs its open and one line when it ends, with the
// documented attributes (README, "Logs"), and nothing per message.
func TestLogs(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var lb logBuffer
		logger := slog.New(slog.NewJSONHandler(&lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
		srv, url := testServer(t, sockhop.Options{Logger: logger}, func(srv *sockhop.Server) {
			sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v string) (string, error) { return v, nil })
		})
		c := dialClient(t, url, tr, client.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range 50 {
			if _, err := c.EmitWithAck(ctx, "echo", "hi"); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.Close()
		deadline := time.Now().Add(5 * time.Second)
		for srv.SessionCount() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // the end's log line follows the count
		var closed []map[string]any
		lines := lb.lines(t)
		for _, l := range lines {
			if l["msg"] == "session closed" {
				closed = append(closed, l)
			}
		}
		if len(closed) != 1 {
			t.Fatalf("%d 'session closed' lines, want 1; log:\n%s", len(closed), lb.buf.String())
		}
		l := closed[0]
		if l["level"] != "INFO" || l["transport"] != tr || l["code"] != float64(1000) || l["session"] == "" || l["remote"] == nil {
			t.Errorf("session closed line: %v", l)
		}
		if len(lines) > 4 { // open, closed, and little else; 50 round trips log nothing
			t.Errorf("%d log lines for one session of 50 messages:\n%s", len(lines), lb.buf.String())
		}
	})
}
