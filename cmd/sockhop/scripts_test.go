package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// TestCounterScript: README's counter counts to ?to=N and its exit closes the session
// with 1000.
func TestCounterScript(t *testing.T) {
	t.Setenv("COUNTER_DELAY", "0.01")
	script, _ := filepath.Abs("scripts/counter.sh")
	srv := startExec(t, "-passenv", "PATH,COUNTER_DELAY", "--", script)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		opts := dialOpts(tr)
		opts.Auth = map[string]string{"query": "to=5"}
		ss := dial(t, srv, opts)
		if code, err := ss.waitClosed(t, 10*time.Second); code != 1000 {
			t.Fatalf("closed with %d (%v), want 1000", code, err)
		}
		if got := strings.Join(ss.waitLines(t, 5, time.Second), " "); got != "1 2 3 4 5" {
			t.Fatalf("counted %q, want 1 2 3 4 5", got)
		}
	})
}

// TestChatScript: README's chat over stdio: what one session says, every session sees,
// across transports.
func TestChatScript(t *testing.T) {
	t.Setenv("CHAT_LOG", filepath.Join(t.TempDir(), "chat.log"))
	script, _ := filepath.Abs("scripts/chat.sh")
	srv := startExec(t, "-passenv", "PATH,CHAT_LOG", "--", script)
	var ss []*session
	for _, tr := range testutil.Transports {
		s := dial(t, srv, dialOpts(tr))
		// Each follows the room once its own "joined" comes back.
		s.waitLines(t, 2, 10*time.Second)
		ss = append(ss, s)
	}
	ss[0].send(t, "hello from websocket")
	ss[2].send(t, "hello from polling")
	for i, s := range ss {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := strings.Join(s.waitLines(t, 1, time.Second), "\n")
			if strings.Contains(got, ": hello from websocket") && strings.Contains(got, ": hello from polling") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s saw:\n%s", testutil.Transports[i], got)
			}
			select {
			case <-s.kick:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
