package client

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
)

// Resume, the Go client's part: after a transport drops, run dials the next one (connect,
// with backoff), naming the node of the session's last welcome (PROTOCOL.md §7, "Many
// nodes"), and sends a hello naming the session; adopt then resumes the session on it
// (session.Resume, then Serve) or, when the server could not resume, starts a new one.
// The server's part is in the root package's resume.go, the session's in
// session/resume.go.

// run serves the session on one transport after another until the client stops. A
// dropped transport is followed by a resume of the same session on the next one. While a
// transport is served, a background upgrade may move the session to a better one and a
// stalled transport moves it to the next one down (switch.go): those are transport
// changes, not reconnects.
func (c *Client) run(conn transport.Conn, core *session.Session, lines [][]byte) {
	defer close(c.done)
	attempt := 0
	w := watch(conn, 0)
	connected := true
	var last *session.Session // the session subscriptions were last made on
	for {
		if connected {
			c.fire(true, nil)
		}
		if core != last { // a new session: subscribe again (a resume keeps the server's rooms)
			last = core
			c.resubscribe(core)
		}
		connected = true
		wctx, wcancel := context.WithCancel(context.Background())
		// Stall detection moves the session down the ladder: with no transport below this
		// one, the heartbeat alone decides, as before.
		if stall, quiet := c.stallTimeout(); stall > 0 && c.below(w.Name()) {
			go c.watchdog(wctx, core, w, stall, quiet)
		}
		probe := c.startProbe(core, w)
		stopRaise := c.raiseLater(core)
		reason := core.Serve(w.serve(), lines)
		stopRaise()
		wcancel()
		up := probe.end()
		c.mu.Lock()
		from := c.transport
		c.transport = ""
		closed := c.closed
		c.mu.Unlock()
		if up != nil {
			if !closed && core.Err() == nil {
				// Background upgrade: the server sends again, on the new transport, the counted
				// messages after the probe's seq; those that arrived here are skipped.
				skip := int(core.ReceivedSeq() - up.seq)
				if _, err := c.adopt(up.conn, up.welcome); err == nil {
					w = watch(up.conn, skip)
					lines = w.filter(up.rest)
					c.log.Info("transport upgraded", "from", from, "to", up.conn.Name(), "skipped", skip)
					c.fireChange(from, up.conn.Name())
					connected = false
					continue
				}
			} else {
				c.release(up, "client stopped")
			}
		}
		if w.stalled.Load() && !closed && core.Err() == nil && !c.opts.NoReconnect {
			// Live downgrade: resume at once on the transports below the stalled one.
			if i := slices.Index(c.opts.Transports, from); i >= 0 && i+1 < len(c.opts.Transports) {
				ctx, cancel := c.stopContext()
				nconn, ncore, nlines, err := c.connectFrom(ctx, i+1)
				cancel()
				if err == nil && ncore == core {
					w, lines = watch(nconn, 0), nlines
					c.log.Info("transport stalled, moved down", "from", from, "to", nconn.Name())
					c.fireChange(from, nconn.Name())
					connected = false
					continue
				}
				if err == nil { // a new session: report it as the reconnect it is
					c.fire(false, reason)
					core, w, lines = ncore, watch(nconn, 0), nlines
					continue
				}
				c.log.Info("live downgrade failed", "from", from, "err", err)
			}
		}
		if session.Dropped(reason) && core.Err() == nil {
			// An idle cut? (heartbeat.go) Not a switch: those continued above.
			c.hb.dropped(time.Since(core.LastRead()), core.PingInterval())
		}
		c.fire(false, reason)
		ended := core.Err() != nil
		if closed || c.opts.NoReconnect || (ended && !events.Reconnect(events.CloseCode(reason))) {
			core.Abort(&events.CloseError{Code: events.CloseNormal, Reason: "client stopped"})
			c.mu.Lock()
			c.core = nil
			c.mu.Unlock()
			c.finish(reason)
			return
		}
		if ended {
			c.mu.Lock()
			c.core = nil
			c.mu.Unlock()
		}
		retry := retryHint(reason)
		for {
			delay := retry
			if delay == 0 {
				delay = c.backoff(attempt)
			}
			retry = 0
			attempt++
			select {
			case <-time.After(delay):
			case <-c.stop:
				c.abandon()
				c.finish(ErrClosed)
				return
			}
			ctx, cancel := c.stopContext()
			var err error
			conn, core, lines, err = c.connect(ctx)
			cancel()
			if err == nil {
				attempt = 0
				w = watch(conn, 0)
				break
			}
			if events.CloseCode(err) != 0 && !events.Reconnect(events.CloseCode(err)) {
				c.abandon()
				c.finish(err)
				return
			}
			retry = retryHint(err)
			c.log.Info("reconnect failed", "attempt", attempt, "err", err)
		}
	}
}

// below reports whether the ladder has a transport below tr.
func (c *Client) below(tr string) bool {
	i := slices.Index(c.opts.Transports, tr)
	return i >= 0 && i+1 < len(c.opts.Transports)
}

// stopContext returns a context that Close cancels.
func (c *Client) stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// abandon ends a detached session that will not resume.
func (c *Client) abandon() {
	c.mu.Lock()
	core := c.core
	c.core = nil
	c.mu.Unlock()
	if core != nil {
		core.Abort(&events.CloseError{Code: events.CloseNormal, Reason: "client stopped"})
	}
}

func (c *Client) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// OnResumeFailed adds f to the functions run when the client reconnected but the server
// could not resume the session (grace expired, buffer overflowed, server restarted): the
// new session starts empty, messages in flight were lost, pending EmitWithAck calls
// failed, so the app should refetch its state.
func (c *Client) OnResumeFailed(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onResumeFailed = append(c.onResumeFailed, f)
}

func (c *Client) fireResumeFailed() {
	c.mu.Lock()
	fs := c.onResumeFailed
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// adopt makes conn, which the server welcomed, serve the client's session: the session
// it resumed, or a new one when the server could not resume (OnResumeFailed runs then,
// after the new session is in place, for a callback that uses it).
func (c *Client) adopt(conn transport.Conn, welcome *events.Message) (*session.Session, error) {
	transport.SetPeerBinary(conn, welcome.Bin == 1) // binary.go
	c.mu.Lock()
	old := c.core
	c.mu.Unlock()
	var core *session.Session
	resumeFailed := false
	switch {
	case welcome.Resumed && old != nil && welcome.SID == old.ID() && old.Resume(welcome.R, nil):
		core = old
	case welcome.Resumed: // the server resumed what this client can no longer replay
		_ = conn.Close(events.CloseNormal, "resume mismatch")
		c.abandon()
		return nil, errors.New("sockhop/client: resume failed on the client side; starting a new session")
	default:
		if old != nil {
			old.Abort(&events.CloseError{Code: events.CloseAbnormal, Reason: "the server could not resume the session"})
			resumeFailed = true
		}
		core = session.New(context.Background(), welcome.SID, session.Config{
			PingInterval:   time.Duration(welcome.Ping) * time.Millisecond,
			PongTimeout:    time.Duration(welcome.Pong) * time.Millisecond,
			MaxQueueBytes:  c.opts.MaxQueueBytes,
			RefuseWhenFull: true, // ErrQueueFull
			MaxFrameBytes:  welcome.Max,
			AckTimeout:     c.opts.AckTimeout,
			Passive:        true,
			Logger:         c.log,
		}, session.HandlerFunc(c.handle))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = conn.Close(events.CloseNormal, "client closed")
		return nil, ErrClosed
	}
	c.core, c.transport, c.token = core, conn.Name(), welcome.Token
	c.ping, c.pong = welcome.Ping, welcome.Pong
	if welcome.Ping > 0 {
		core.SetPingInterval(time.Duration(welcome.Ping) * time.Millisecond) // this transport's
		if c.hb.interval() == 0 {
			c.serverPing = time.Duration(welcome.Ping) * time.Millisecond
		}
	}
	c.node = welcome.Node // a welcome without a node clears it
	c.mu.Unlock()
	if resumeFailed {
		c.fireResumeFailed() // after the new session is in place, for a callback that uses it
	}
	return core, nil
}

// raiseLater asks the server for a longer ping interval on core's transport whenever the
// learned one has held long enough (heartbeat.go), until the returned function is called.
func (c *Client) raiseLater(core *session.Session) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-core.Context().Done():
				return
			case <-t.C:
				c.mu.Lock()
				server := c.serverPing
				c.mu.Unlock()
				if server == 0 {
					server = 25 * time.Second
				}
				if d := c.hb.raise(server); d > 0 {
					in, _ := core.Seq()
					_ = core.SendControl(events.AppendPingInterval(events.AppendPing(nil, false, in), d.Milliseconds()))
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}
