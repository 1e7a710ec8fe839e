package client

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
)

// Live transport changes (issue 17). While a session is served on one transport, two
// helpers may move it to another through resume, without a reconnect:
//
//   - background upgrade: on a fallback, a prober dials the first transport of the ladder
//     after a jittered backoff and sends a hello resuming the session. The server hands the
//     session to it and drops the old transport with 4002 (session.Attach). The counted
//     messages that arrived on the old transport after the probe's hello said seq are
//     sent again by the server on the new one: the new transport skips exactly those.
//   - live downgrade: a watchdog pings when the transport has been silent and, when
//     nothing answers in time, closes it; the session resumes at once on the next
//     transport of the ladder.
//
// Either is reported to OnTransportChange, not as a disconnect and a connect.

// OnTransportChange adds f to the functions run when the session moved from one
// transport to another without a reconnect: a background upgrade, or a live downgrade
// from a stalled transport. It runs on the client's goroutine before the session is
// served on the new transport; f must not wait for the server.
func (c *Client) OnTransportChange(f func(from, to string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = append(c.onChange, f)
}

func (c *Client) fireChange(from, to string) {
	c.mu.Lock()
	fs := c.onChange
	c.mu.Unlock()
	for _, f := range fs {
		f(from, to)
	}
}

// watched is a served transport: it records when a frame last arrived, for the stall
// watchdog, and skips the first skip counted messages (events and acks) it reads: those
// the server sends again after a background upgrade that the old transport delivered.
type watched struct {
	transport.Conn
	last    atomic.Int64 // unix nanoseconds of the last frame read
	gap     atomic.Int64 // nanoseconds between the last two frames read
	wrote   atomic.Int64 // unix nanoseconds of the last frame written
	skip    int          // the reader's
	stalled atomic.Bool  // closed by the watchdog
}

func watch(conn transport.Conn, skip int) *watched {
	w := &watched{Conn: conn, skip: skip}
	w.last.Store(time.Now().UnixNano())
	w.gap.Store(math.MaxInt64) // not busy until two frames arrived
	return w
}

func (w *watched) ReadFrame() ([]byte, error) {
	for {
		f, err := w.Conn.ReadFrame()
		if err != nil {
			return nil, err
		}
		w.seen()
		if w.skip == 0 {
			return f, nil
		}
		if f = w.filterFrame(f); f != nil {
			return f, nil
		}
	}
}

// filterFrame drops the counted messages still to skip from a text frame; nil when none
// is left.
func (w *watched) filterFrame(f []byte) []byte {
	var lines [][]byte
	_ = events.Lines(f, func(l []byte) error {
		lines = append(lines, slices.Clone(l))
		return nil
	})
	if lines = w.filter(lines); len(lines) > 0 {
		return bytes.Join(lines, []byte{'\n'})
	}
	return nil
}

// seen records that a frame arrived.
func (w *watched) seen() {
	now := time.Now().UnixNano()
	w.gap.Store(now - w.last.Swap(now))
}

// serve returns the Conn the session is served on: w, with the binary frames of a
// transport that carries them (transport.BinaryFramer).
func (w *watched) serve() transport.Conn {
	if bf, ok := w.Conn.(transport.BinaryFramer); ok {
		return &watchedBinary{w, bf}
	}
	return w
}

// SetPeerBinary and PeerBinary pass what the peer declared (transport.Peer) through.
func (w *watched) SetPeerBinary(on bool) { transport.SetPeerBinary(w.Conn, on) }

// PeerBinary reports what the peer declared, as the wrapped Conn recorded it.
func (w *watched) PeerBinary() bool { return transport.PeerBinary(w.Conn) }

// watchedBinary is a watched transport that carries binary frames.
type watchedBinary struct {
	*watched
	bf transport.BinaryFramer
}

// ReadMessage is ReadFrame with binary frames, which count (and are skipped) as the
// messages they carry.
func (w *watchedBinary) ReadMessage() ([]byte, bool, error) {
	for {
		f, bin, err := w.bf.ReadMessage()
		if err != nil {
			return nil, false, err
		}
		w.seen()
		if w.skip == 0 {
			return f, bin, nil
		}
		if bin {
			if m, err := events.DecodeBinary(f); err == nil && (m.T == events.TypeEvent || m.T == events.TypeAck) {
				w.skip--
				continue
			}
			return f, true, nil
		}
		if f = w.filterFrame(f); f != nil {
			return f, false, nil
		}
	}
}

// WriteBinary writes one binary frame.
func (w *watchedBinary) WriteBinary(msg []byte) error {
	w.wrote.Store(time.Now().UnixNano())
	return w.bf.WriteBinary(msg)
}

func (w *watched) WriteFrame(msgs [][]byte) error {
	w.wrote.Store(time.Now().UnixNano())
	return w.Conn.WriteFrame(msgs)
}

// filter drops the counted messages still to skip from lines.
func (w *watched) filter(lines [][]byte) [][]byte {
	out := lines[:0]
	for _, l := range lines {
		if w.skip > 0 {
			if m, err := events.Decode(l); err == nil && (m.T == events.TypeEvent || m.T == events.TypeAck) {
				w.skip--
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// stallTimeout is how long a pong the client asked for may take before the transport
// counts as stalled: Options.StallTimeout, or by default 500 ms + 4 round trips, between 1s
// and 5s, at most half the heartbeat (ping + pong of the welcome). quiet is how long
// nothing may arrive before the client asks for a pong: the server's ping interval and a
// quarter of it more, at most a second (a ping of the server is overdue then; so a healthy
// idle session costs no pings of the client's, and a stalled one is noticed within
// quiet + stall, well inside the heartbeat's ping + pong), 10s before a welcome said the
// interval. Both as in the JS client (client-js ladder.ts).
func (c *Client) stallTimeout() (stall, quiet time.Duration) {
	c.mu.Lock()
	ping, pong, rtt := c.ping, c.pong, c.rtt
	c.mu.Unlock()
	hb := time.Duration(ping+pong) * time.Millisecond
	quiet = 10 * time.Second
	if p := time.Duration(ping) * time.Millisecond; p > 0 {
		quiet = p + min(time.Second, p/4)
	}
	if c.opts.StallTimeout != 0 {
		return c.opts.StallTimeout, quiet
	}
	stall = min(5*time.Second, max(time.Second, 500*time.Millisecond+4*rtt))
	if hb > 0 {
		stall = min(stall, hb/2)
	}
	return stall, quiet
}

// watchdog asks for a pong (sends a ping) when nothing arrived on w for quiet, or for
// stall/2 on a busy transport (frames arrived less than stall/2 apart before the
// silence, or the client wrote within stall), and closes w, marking it stalled, when
// nothing arrived within stall of the ping. It returns when ctx ends.
func (c *Client) watchdog(ctx context.Context, core *session.Session, w *watched, stall, quiet time.Duration) {
	tick := time.NewTicker(max(stall/4, 10*time.Millisecond))
	defer tick.Stop()
	var pinged time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		last := time.Unix(0, w.last.Load())
		silent := time.Since(last)
		switch {
		case !pinged.IsZero() && last.After(pinged):
			pinged = time.Time{}
		case !pinged.IsZero() && time.Since(pinged) > stall:
			c.log.Info("transport stalled", "transport", w.Name(), "silent", silent.Round(time.Millisecond))
			w.stalled.Store(true)
			_ = w.Close(events.CloseNormal, "stalled")
			return
		case pinged.IsZero() && (silent > quiet || silent > stall/2 && w.busy(stall/2, stall)):
			if core.SendControl(events.AppendPing(nil, false, core.AckSeq())) == nil {
				pinged = time.Now()
			}
		}
	}
}

// busy reports whether frames arrived less than gap apart before the last one, or the
// client wrote within recent.
func (w *watched) busy(gap, recent time.Duration) bool {
	return time.Duration(w.gap.Load()) < gap || time.Since(time.Unix(0, w.wrote.Load())) < recent
}

// prober is the background upgrade of one served transport.
type prober struct {
	cancel context.CancelFunc
	exited chan struct{}
	res    chan *opened // the welcomed probe, or nil: sent once when the hello went out

	mu     sync.Mutex
	served bool // the transport's Serve returned: no hello may go out now
	hello  bool // a probe's hello went out
}

// startProbe starts the background upgrade of the session served on w, when w is a
// fallback and upgrades are on; nil otherwise.
func (c *Client) startProbe(core *session.Session, w *watched) *prober {
	names := c.opts.Transports
	if c.opts.UpgradeDelay < 0 || len(names) < 2 || w.Name() == names[0] {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{cancel: cancel, exited: make(chan struct{}), res: make(chan *opened, 1)}
	claim := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.served || core.Err() != nil {
			return false
		}
		p.hello = true
		return true
	}
	go func() { // Close stops a probe at once
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer close(p.exited)
		for attempt := 0; ; attempt++ {
			mean := c.opts.UpgradeDelay << min(attempt, 6)
			d := mean/2 + time.Duration(rand.Int64N(int64(mean)+1))
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			h, err := c.handshake(ctx, nil, names[0], claim)
			if err == nil && !(h.welcome.Resumed && h.welcome.SID == core.ID()) {
				c.release(h, "not resumed")
				h, err = nil, errNotResumed
			}
			if h != nil {
				p.res <- h                                  // end waits for it: hello is set
				_ = w.Close(events.CloseNormal, "upgraded") // Serve returns now; the server dropped it too
				return
			}
			p.mu.Lock()
			if p.hello && p.served { // end waits for the outcome
				p.mu.Unlock()
				p.res <- nil
				return
			}
			// A hello that failed may still have reached the server, which then drops the
			// served transport (4002) and the session resumes as after a cut; until then,
			// probe again.
			p.hello = false
			p.mu.Unlock()
			c.log.Debug("upgrade probe failed", "transport", names[0], "attempt", attempt, "err", err)
		}
	}()
	return p
}

var errNotResumed = errorString("the probe was not welcomed as a resume")

type errorString string

func (e errorString) Error() string { return string(e) }

// end is called when the served transport's Serve returned: it stops the prober and
// returns its welcomed probe, if a probe's hello went out and was welcomed.
func (p *prober) end() *opened {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.served = true
	hello := p.hello
	p.mu.Unlock()
	if hello {
		h := <-p.res // bounded by OpenTimeout: the probe's outcome
		p.cancel()
		<-p.exited
		return h
	}
	p.cancel()
	<-p.exited
	return nil
}
