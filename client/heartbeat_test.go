package client

import (
	"testing"
	"time"
)

// TestHeartbeatLearner: an idle cut before the server's next ping lowers the interval to
// 3/4 of it (whole seconds, never under 5 s); other drops teach nothing; a raise comes only
// after the hold, a quarter more, and back at the server's interval the client asks for
// none; a raise that is cut again doubles the hold.
func TestHeartbeatLearner(t *testing.T) {
	c := &Client{}
	h := &c.hb
	if h.dropped(2*time.Second, 25*time.Second) || h.dropped(26*time.Second, 25*time.Second) || h.dropped(10*time.Second, 0) {
		t.Fatal("a drop that is no idle cut changed the interval")
	}
	if !h.dropped(10050*time.Millisecond, 25*time.Second) || h.interval() != 7*time.Second {
		t.Fatalf("after a 10 s cut: %v, want 7s", h.interval())
	}
	if h.dropped(20*time.Second, 25*time.Second) || h.interval() != 7*time.Second {
		t.Fatalf("a longer cut raised the interval to %v", h.interval())
	}
	if !h.dropped(6*time.Second, 7*time.Second) || h.interval() != minPing {
		t.Fatalf("after a 6 s cut: %v, want the 5s floor", h.interval())
	}
	if d := h.raise(25 * time.Second); d != 0 {
		t.Fatalf("raised to %v before the hold", d)
	}
	h.since = time.Now().Add(-pingHold)
	if d := h.raise(25 * time.Second); d != 6*time.Second {
		t.Fatalf("raise: %v, want 6s (a quarter more)", d)
	}
	h.dropped(5500*time.Millisecond, 6*time.Second) // the raise was cut
	if h.hold != 2*pingHold {
		t.Fatalf("hold %v after a raise that was cut, want %v", h.hold, 2*pingHold)
	}
	for range 20 {
		h.since = time.Now().Add(-h.hold)
		if h.raise(25*time.Second) == 25*time.Second {
			break
		}
	}
	if h.interval() != 0 {
		t.Fatalf("after the raises: %v, want 0 (the server's own)", h.interval())
	}
	if _, cuts := c.PingInterval(); cuts != 4 {
		t.Fatalf("cuts %d, want 4", cuts)
	}
}
