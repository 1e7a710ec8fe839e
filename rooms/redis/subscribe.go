package redis

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/wire"
)

// waiter is closed when Redis confirms a channel's subscription (err nil) or when the
// connection it was sent on is lost (err set).
type waiter struct {
	done chan struct{}
	err  error // written before done is closed
}

// release wakes the Subscribe calls waiting on w. The caller holds a.mu and removes w.
func (w *waiter) release(err error) {
	w.err = err
	close(w.done)
}

// Start connects the subscriber to Redis (one attempt, bounded by DialTimeout and ctx) and
// starts the goroutine that delivers broadcasts from other nodes to deliver and reconnects
// after losses. A failed first attempt is logged and retried in the background, so a node
// can start while Redis is down; Start then still returns nil, and Publish returns errors
// until the connection is up.
func (a *Adapter) Start(ctx context.Context, deliver func(rooms.Publication)) error {
	if deliver == nil {
		return errors.New("rooms/redis: Start with a nil deliver function")
	}
	a.mu.Lock()
	switch {
	case a.stopped:
		a.mu.Unlock()
		return rooms.ErrClosed
	case a.started:
		a.mu.Unlock()
		return errors.New("rooms/redis: adapter already started")
	}
	a.started = true
	a.deliver = deliver
	a.mu.Unlock()

	ps, err := a.connect(ctx)
	if err != nil {
		a.connected.Store(false)
	}
	a.wg.Add(1)
	go a.run(ps, err)
	return nil
}

// connect opens a subscriber connection and subscribes it to every channel of interest.
func (a *Adapter) connect(ctx context.Context) (*goredis.PubSub, error) {
	a.subMu.Lock()
	defer a.subMu.Unlock()
	a.mu.RLock()
	chans := make([]string, 0, len(a.channels)+1)
	chans = append(chans, a.allCh)
	for ch := range a.channels {
		chans = append(chans, ch)
	}
	a.mu.RUnlock()

	ctx, cancel := context.WithTimeout(ctx, a.opts.DialTimeout+a.opts.PublishTimeout)
	defer cancel()
	stop := context.AfterFunc(a.ctx, cancel) // Close interrupts a connection attempt
	defer stop()
	ps := a.client.Subscribe(ctx) // no I/O yet
	for len(chans) > 0 {
		n := min(len(chans), 1024) // keep each SUBSCRIBE command reasonably small
		if err := ps.Subscribe(ctx, chans[:n]...); err != nil {
			_ = ps.Close()
			return nil, err
		}
		chans = chans[n:]
	}
	// A TCP handshake and a write succeed even against a hung server (the kernel answers
	// for it), so the connection counts as up only when Redis confirms the first channel.
	msg, err := ps.ReceiveTimeout(ctx, a.opts.DialTimeout)
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	if sub, ok := msg.(*goredis.Subscription); !ok || sub.Kind != "subscribe" || sub.Channel != a.allCh {
		_ = ps.Close()
		return nil, fmt.Errorf("unexpected first reply %v", msg)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		_ = ps.Close()
		return nil, rooms.ErrClosed
	}
	a.ps = ps
	return ps, nil
}

// run owns the subscriber connection: it receives until the connection fails, then
// reconnects with back-off until Close.
func (a *Adapter) run(ps *goredis.PubSub, err error) {
	defer a.wg.Done()
	var downSince time.Time
	attempt := 0
	for {
		if err == nil {
			if !downSince.IsZero() {
				d := time.Since(downSince)
				a.lastOutage.Store(int64(d))
				a.reconnects.Add(1)
				a.log.Info("rooms/redis: connection restored", "down_for", d.Round(time.Millisecond), "attempts", attempt)
				downSince = time.Time{}
			}
			attempt = 0
			a.connected.Store(true)
			err = a.receive(ps)
			if a.ctx.Err() == nil {
				a.connected.Store(false) // first: Publish fails fast from now on
			}
			a.mu.Lock()
			if a.ps == ps {
				a.ps = nil
			}
			// Subscriptions sent on the lost connection will not be confirmed there; their
			// callers learn it now, and the next connection subscribes the channels anyway.
			for ch, w := range a.waiters {
				w.release(errDisconnected)
				delete(a.waiters, ch)
			}
			a.mu.Unlock()
			_ = ps.Close()
		}
		if a.ctx.Err() != nil {
			return
		}
		if downSince.IsZero() {
			downSince = time.Now()
			a.connected.Store(false)
			a.disconnects.Add(1)
			a.log.Warn("rooms/redis: connection lost; cross-node broadcasts fail until it is back", "err", err)
		} else {
			a.log.Debug("rooms/redis: reconnect failed", "attempt", attempt, "err", err)
		}
		t := time.NewTimer(a.backoff(attempt))
		select {
		case <-a.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		attempt++
		ps, err = a.connect(a.ctx)
	}
}

// backoff returns the wait before reconnection attempt n: exponential from MinBackoff up
// to MaxBackoff, with "equal jitter" (half fixed, half random) so nodes do not reconnect
// in lockstep after Redis restarts.
func (a *Adapter) backoff(n int) time.Duration {
	d := a.opts.MaxBackoff
	if n < 30 {
		if e := a.opts.MinBackoff << n; e > 0 && e < d {
			d = e
		}
	}
	return d/2 + mrand.N(d/2+1)
}

// receive reads the subscriber connection until it fails.
func (a *Adapter) receive(ps *goredis.PubSub) error {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(a.ctx, a.opts.HealthInterval)
		if err != nil {
			if a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					return errors.New("no answer to PING")
				}
				if err := ps.Ping(a.ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Message:
			a.handle(m.Payload)
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				a.confirm(m.Channel)
			}
		}
	}
}

// handle decodes one message and delivers it when it is from another node and for a
// room of local interest.
func (a *Adapter) handle(payload string) {
	node, ok := wire.Header(payload)
	if !ok {
		a.badMsgs.Add(1)
		return
	}
	if node == a.node {
		a.skipped.Add(1)
		return
	}
	p, err := wire.Decode(payload)
	if err != nil {
		a.badMsgs.Add(1)
		return
	}
	a.mu.RLock()
	interested := false
	for _, r := range p.Rooms {
		if a.rooms[r] > 0 {
			interested = true
			break
		}
	}
	a.mu.RUnlock()
	if !interested {
		a.skipped.Add(1)
		return
	}
	a.delivered.Add(1)
	a.deliver(p)
}

// confirm wakes the Subscribe calls waiting for channel.
func (a *Adapter) confirm(channel string) {
	a.mu.Lock()
	if w := a.waiters[channel]; w != nil {
		w.release(nil)
		delete(a.waiters, channel)
	}
	a.mu.Unlock()
}

// Subscribe makes this node receive broadcasts to room. The first Subscribe of a channel
// sends SUBSCRIBE and waits for Redis's confirmation (bounded by ctx), so broadcasts that
// other nodes publish after Subscribe returns arrive. When the adapter is disconnected, or
// the connection is lost before Redis confirms, the interest is kept, the subscription is
// made on reconnection, and Subscribe returns an error wrapping [rooms.ErrUnavailable].
func (a *Adapter) Subscribe(ctx context.Context, room string) error {
	ch := a.channelOf(room)
	a.subMu.Lock()
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		a.subMu.Unlock()
		return rooms.ErrClosed
	}
	a.rooms[room]++
	if a.rooms[room] == 1 {
		a.channels[ch]++
	}
	w := a.waiters[ch]
	first := a.channels[ch] == 1 && a.rooms[room] == 1
	if first {
		w = &waiter{done: make(chan struct{})}
		a.waiters[ch] = w
	}
	ps := a.ps
	a.mu.Unlock()
	var err error
	if first {
		if ps == nil {
			err = errDisconnected
		} else {
			err = ps.Subscribe(ctx, ch)
		}
	}
	a.subMu.Unlock()
	if err != nil {
		return fmt.Errorf("rooms/redis: subscribe %q: %w: %w", room, rooms.ErrUnavailable, err)
	}
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
		if w.err != nil {
			return fmt.Errorf("rooms/redis: subscribe %q: %w: %w", room, rooms.ErrUnavailable, w.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
}

// Unsubscribe undoes one Subscribe. When no room of local interest is left on the room's
// channel it sends UNSUBSCRIBE without waiting for the answer. It fails only when the
// adapter is closed: a lost connection is replaced by one without the channel.
func (a *Adapter) Unsubscribe(ctx context.Context, room string) error {
	ch := a.channelOf(room)
	a.subMu.Lock()
	defer a.subMu.Unlock()
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return rooms.ErrClosed
	}
	n := a.rooms[room]
	if n > 1 {
		a.rooms[room] = n - 1
	}
	if n != 1 {
		a.mu.Unlock()
		return nil
	}
	delete(a.rooms, room)
	last := a.channels[ch] == 1
	if last {
		delete(a.channels, ch)
		if w := a.waiters[ch]; w != nil { // a Subscribe still waiting: let it go
			w.release(nil)
			delete(a.waiters, ch)
		}
	} else {
		a.channels[ch]--
	}
	ps := a.ps
	a.mu.Unlock()
	if last && ps != nil {
		_ = ps.Unsubscribe(ctx, ch)
	}
	return nil
}
