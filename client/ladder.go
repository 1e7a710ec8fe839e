package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
)

// The transport ladder (issue 17): the transports are tried in order, but not one after
// the other's full timeout. Each attempt is given a scaled open timeout, from the round
// trip the client measured (see scaledOpenTimeout); when it is late, the next transport
// starts in parallel while the late one goes on, up to OpenTimeout, as RFC 8305 ("happy
// eyeballs") does for IPv6 and IPv4. The first transport the server welcomes wins; an
// attempt still before its hello stops there, and one welcomed later is released (its new
// server session closed at once, see release).

// Attempt describes one transport attempt of a connect, for [Options.OnAttempt].
type Attempt struct {
	// Transport names the transport tried.
	Transport string
	// Start is when the attempt began, from the start of the connect.
	Start time.Duration
	// Late is the scaled open timeout the attempt was given: past it the next transport
	// started in parallel. It is OpenTimeout when no round trip was measured yet.
	Late time.Duration
	// RTT is the round trip Late was scaled from; zero when none was measured yet.
	RTT time.Duration
	// Took is how long the attempt ran.
	Took time.Duration
	// Won reports whether the client took this transport.
	Won bool
	// Err is why the attempt failed; nil when it won, or was welcomed after another had.
	Err error
}

// Bounds of the scaled open timeout, the same as the JS client's (client-js ladder.ts).
const (
	lateBase = 250 * time.Millisecond // the open timeout is lateBase + lateRTTs round trips
	lateRTTs = 3                      // TCP and the upgrade (or the SockJS open), then hello → welcome
	lateMin  = 300 * time.Millisecond // and at least lateMin
)

// scaledOpenTimeout is how long an attempt may go without a welcome before the ladder
// starts the next transport in parallel: 250 ms + 3 × rtt, at least 300 ms, at most upper
// (Options.OpenTimeout). Zero rtt (none measured yet) gives upper.
func scaledOpenTimeout(rtt, upper time.Duration) time.Duration {
	if rtt <= 0 {
		return upper
	}
	return min(upper, max(lateMin, lateBase+lateRTTs*rtt))
}

// RTT returns the client's estimate of the round trip to the server: measured on its
// first request, then smoothed over the hello/welcome exchanges. Zero until measured.
func (c *Client) RTT() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rtt
}

// sampleRTT folds a round trip measured into the estimate (RFC 6298's smoothing, 1/8).
func (c *Client) sampleRTT(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rtt == 0 {
		c.rtt = d
		return
	}
	c.rtt = (7*c.rtt + d) / 8
}

// attemptResult is the end of one attempt of the ladder.
type attemptResult struct {
	i   int
	h   *opened
	err error
}

// connectFrom runs the transport ladder from transport from until one delivers a welcome.
// It stops at a transport on which the server refused the client (a terminal close code,
// an HTTP 403: another transport would not help) or asked it to come back later (429,
// 503, a close before the welcome: see comeBack); the next connect then starts with that
// transport again. The error carries the close code of such an answer (PROTOCOL.md §5,
// HTTP refusals).
func (c *Client) connectFrom(parent context.Context, from int) (transport.Conn, *session.Session, [][]byte, error) {
	names := c.opts.Transports
	from = max(0, min(from, len(names)-1))
	// ctx is the ladder's: it ends when the ladder returns, and stops the attempts that
	// have not sent their hello. live bounds the attempts past their hello: they wait for
	// their welcome (within OpenTimeout), to release what the server opened for them; it
	// ends with parent, Close, or once every attempt is done.
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(errLostRace)
	live, liveCancel := context.WithCancel(parent)
	go func() {
		select {
		case <-c.stop:
			liveCancel()
		case <-live.Done():
		}
	}()
	begin := time.Now()

	var mu sync.Mutex
	won := false
	hellos := 0
	claim := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if !won {
			hellos++
		}
		return !won
	}

	rttc := make(chan time.Duration, 1)
	if c.RTT() == 0 { // measure on the first request, alongside the first attempt
		go func() {
			mctx, mcancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
			defer mcancel()
			d, err := dial.MeasureRTT(mctx, c.url, dial.Options{Header: c.opts.Header, HTTPClient: c.opts.HTTPClient})
			if err != nil {
				d = 0
			}
			rttc <- d
		}()
	}

	results := make(chan attemptResult, len(names))
	attempts := make([]Attempt, len(names))
	next, running := from, 0
	var lateAt time.Time // when the newest attempt is late
	late := time.NewTimer(time.Hour)
	defer late.Stop()
	arm := func() {
		if next >= len(names) {
			late.Stop()
			return
		}
		late.Reset(time.Until(lateAt))
	}
	start := func() {
		i := next
		next++
		running++
		rtt := c.RTT()
		d := scaledOpenTimeout(rtt, c.opts.OpenTimeout)
		attempts[i] = Attempt{Transport: names[i], Start: time.Since(begin), Late: d, RTT: rtt}
		lateAt = time.Now().Add(d)
		arm()
		go func() {
			h, err := c.handshake(live, ctx, names[i], claim)
			results <- attemptResult{i, h, err}
		}()
	}
	report := func(i int, won bool, err error) {
		a := &attempts[i]
		a.Took, a.Won, a.Err = time.Since(begin)-a.Start, won, err
		if c.opts.OnAttempt != nil {
			c.opts.OnAttempt(*a)
		}
	}
	// finish releases the attempts still running once the ladder is done with them.
	finish := func(n int) {
		cancel(errLostRace)
		if n == 0 {
			liveCancel()
			return
		}
		go func() {
			defer liveCancel()
			for range n {
				r := <-results
				if r.h != nil {
					c.release(r.h, "another transport was welcomed first")
				}
				report(r.i, false, r.err)
			}
		}()
	}

	var errs []error
	start()
	for {
		var r attemptResult
		select {
		case d := <-rttc:
			c.sampleRTT(d)
			if d > 0 && next < len(names) { // rescale the newest attempt's timeout
				i := next - 1
				s := scaledOpenTimeout(d, c.opts.OpenTimeout)
				attempts[i].Late, attempts[i].RTT = s, d
				lateAt = begin.Add(attempts[i].Start + s)
				arm()
			}
			continue
		case <-late.C:
			if next < len(names) {
				c.log.Debug("transport late, starting the next in parallel", "late", names[next-1], "next", names[next])
				start()
			}
			continue
		case r = <-results:
			running--
		}
		if r.err == nil {
			mu.Lock()
			won = true
			others := hellos > 1
			mu.Unlock()
			c.sampleRTT(r.h.rtt)
			core, err := c.adopt(r.h.conn, r.h.welcome)
			if err == nil && others && r.h.resume && r.h.welcome.Resumed {
				// Another hello resuming the session with the same token is out: the server
				// may resume it after this one and rotate the token again. The token this
				// ladder presented stays valid either way (the server keeps the previous
				// token until the client presents a newer one), the winner's may not.
				c.mu.Lock()
				c.token = r.h.token
				c.mu.Unlock()
			}
			report(r.i, err == nil, err)
			finish(running)
			if err != nil {
				return nil, nil, nil, err
			}
			return r.h.conn, core, r.h.rest, nil
		}
		report(r.i, false, r.err)
		name := names[r.i]
		var ae *authFuncError
		if errors.As(r.err, &ae) { // no credentials: another transport would not help
			finish(running)
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %w", c.url, r.err)
		}
		code := events.CloseCode(r.err)
		switch {
		case code != 0 && !events.Reconnect(code):
			finish(running)
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %s: refused, no other transport tried: %w", c.url, name, r.err)
		case comeBack(code):
			finish(running)
			c.from = r.i
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %s: come back later: %w", c.url, name, r.err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, r.err))
		if ctx.Err() != nil && running == 0 {
			break
		}
		if running == 0 || r.i == next-1 { // the newest attempt failed: the next need not wait
			if next < len(names) && ctx.Err() == nil {
				start()
				continue
			}
		}
		if running == 0 {
			break
		}
	}
	liveCancel() // no attempt is running
	return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %w", c.url, errors.Join(errs...))
}
