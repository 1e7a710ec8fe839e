package client

import (
	"sync"
	"time"
)

// Heartbeats that learn the path (PROTOCOL.md §5, "Learning the interval"), the Go client's
// part; client-js/src/heartbeat.ts is the same rule. A proxy that cuts connections idle for
// less than the server's ping interval cuts every transport after the same idle time. The
// learner notices such a cut (the transport dropped after idle with nothing received,
// before the server's next ping was due) and asks the server, in the next hello, for 3/4 of
// that idle time, never below minPing; it raises the interval again by a quarter every
// hold without a cut (a ping carrying the new interval), the hold doubling each time a
// raise led to a cut, until it reaches the server's own interval.

const (
	minPing     = 5 * time.Second
	pingHold    = 10 * time.Minute
	pingHoldMax = 8 * time.Hour
)

// heartbeat is the learned interval of one client's path to its server.
type heartbeat struct {
	mu     sync.Mutex
	ping   time.Duration // the interval to ask for; 0: none (the server's own)
	cut    time.Duration // the idle time of the last cut seen
	cuts   int           // cuts seen
	since  time.Time     // when ping was last set
	hold   time.Duration
	raised bool // ping was raised since the last cut
}

// dropped takes note of a transport that dropped after idle with nothing received, while
// the server pinged every server; it reports whether the interval changed.
func (h *heartbeat) dropped(idle, server time.Duration) bool {
	if server <= 0 || idle < minPing || idle >= server {
		return false // not an idle cut that pings could beat
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold == 0 {
		h.hold = pingHold
	}
	h.cuts++
	h.cut = idle
	if h.raised {
		h.hold = min(2*h.hold, pingHoldMax)
	}
	h.raised = false
	h.since = time.Now()
	want := max(minPing, (idle * 3 / 4).Truncate(time.Second))
	if h.ping != 0 && want >= h.ping {
		return false
	}
	h.ping = want
	return true
}

// raise returns the higher interval to ask for when the current one held long enough
// without a cut (0: none due); serverMax is the server's own interval.
func (h *heartbeat) raise(serverMax time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ping == 0 || time.Since(h.since) < h.hold {
		return 0
	}
	h.since = time.Now()
	h.raised = true
	h.ping = (h.ping * 5 / 4).Round(time.Second)
	if serverMax > 0 && h.ping >= serverMax {
		h.ping = 0
		return serverMax
	}
	return h.ping
}

// interval returns the interval to ask for in a hello (0: none).
func (h *heartbeat) interval() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ping
}

// PingInterval returns the heartbeat interval the client asks the server for, learned
// behind a proxy that cuts idle connections sooner than the server's pings (0: none, the
// server's own), and how many such cuts it has seen.
func (c *Client) PingInterval() (time.Duration, int) {
	c.hb.mu.Lock()
	defer c.hb.mu.Unlock()
	return c.hb.ping, c.hb.cuts
}
