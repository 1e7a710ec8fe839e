package dial

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func newTestConn() *sockjsConn {
	c := &sockjsConn{name: "xhr-streaming", frames: make(chan []byte, 1<<16), opts: Options{MaxFrameSize: 1 << 16}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func TestReadFrames(t *testing.T) {
	c := newTestConn()
	defer c.cancel()
	opens := 0
	body := strings.Repeat("h", 2048) + "\no\nh\na[\"x\",\"y\\nz\"]\nc[4001,\"heartbeat timeout\"]\n"
	again, err := c.readFrames(strings.NewReader(body), func() error { opens++; return nil })
	if again || events.CloseCode(err) != 4001 || opens != 2 || len(c.frames) != 2 {
		t.Fatalf("again %v err %v opens %d frames %d", again, err, opens, len(c.frames))
	}
	again, err = c.readFrames(strings.NewReader("c[2010,\"Another connection still open\"]\n"), func() error { return nil })
	if !again || err != nil {
		t.Fatalf("2010: again %v err %v", again, err)
	}
}

// FuzzReadFrames feeds the client's SockJS parser any response body: it must return (a
// frame, a close, an error) without panicking or hanging.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte("o\na[\"{}\"]\n"))
	f.Add([]byte("c[1000,\"bye\"]\n"))
	f.Add([]byte("a[\"\\u0000\"]"))
	f.Add([]byte(strings.Repeat("h", 100) + "\nh\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := newTestConn()
		defer c.cancel()
		_, _ = c.readFrames(strings.NewReader(string(body)), func() error { return nil })
	})
}

// TestRefusalCodes holds the client's reading of HTTP refusals to the table of
// testdata/protocol/close-codes.json (PROTOCOL.md §5): on SockJS requests every status of
// the table means its close code; a WebSocket upgrade is refused by sockhop only with 403,
// 429 and 503, and any other status there means only that the transport does not work.
func TestRefusalCodes(t *testing.T) {
	b, err := os.ReadFile("../../testdata/protocol/close-codes.json")
	if err != nil {
		t.Fatal(err)
	}
	var tab struct {
		HTTP []struct{ Status, Close int }
	}
	if err := json.Unmarshal(b, &tab); err != nil || len(tab.HTTP) == 0 {
		t.Fatalf("close-codes.json: %v", err)
	}
	listed := map[int]bool{}
	for _, h := range tab.HTTP {
		listed[h.Status] = true
		for _, op := range []string{"xhr-streaming", "xhr-polling", "xhr_send"} {
			if got := refusalCode(op, h.Status); got != h.Close {
				t.Errorf("%s: HTTP %d means %d, the table says %d", op, h.Status, got, h.Close)
			}
		}
		want := 0
		if h.Status == 403 || h.Status == 429 || h.Status == 503 {
			want = h.Close
		}
		if got := refusalCode(opUpgrade, h.Status); got != want {
			t.Errorf("upgrade: HTTP %d means %d, want %d", h.Status, got, want)
		}
	}
	for status := 100; status < 600; status++ {
		if !listed[status] && (refusalCode("xhr_send", status) != 0 || refusalCode(opUpgrade, status) != 0) {
			t.Errorf("HTTP %d is not in the table but means a close code", status)
		}
	}
	e := &HTTPError{Op: "xhr", Status: 429, Code: refusalCode("xhr", 429), RetryAfter: 2 * time.Second}
	var ce *events.CloseError
	if !errors.As(e, &ce) || ce.Code != events.CloseTryAgainLater || ce.Retry != 2000 {
		t.Errorf("429 unwraps to %+v", ce)
	}
	if e := (&HTTPError{Op: opUpgrade, Status: 404}); events.CloseCode(e) != 0 {
		t.Errorf("a 404 upgrade carries close code %d", events.CloseCode(e))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 7 ":                           7 * time.Second,
		"-5":                            0,
		"soon":                          0,
		"99999999":                      time.Hour,
		"Tue, 01 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 11:00:30 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
}
