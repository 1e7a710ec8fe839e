package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
)

// connect runs the transport ladder (see connectFrom), starting with the transport that
// last asked the client to come back later, if any.
func (c *Client) connect(ctx context.Context) (transport.Conn, *session.Session, [][]byte, error) {
	from := min(c.from, len(c.opts.Transports)-1)
	c.from = 0
	return c.connectFrom(ctx, from)
}

// comeBack reports whether a connection attempt that failed with close code means "the
// server is there on this transport and asks the client to come back later": an HTTP 429
// or 503 (1013, 1001) or a close before the welcome with a reconnect code. The client
// keeps its session, waits as asked (the retry hint, Retry-After, or its backoff) and
// tries the same transport again; walking down the transport ladder would not help. A
// dropped transport (1006, 1005, or no code) is not such an answer.
func comeBack(code int) bool {
	return code != 0 && code != events.CloseAbnormal && code != events.CloseNoStatus && events.Reconnect(code)
}

// opened is a transport the server welcomed, not yet adopted.
type opened struct {
	conn    transport.Conn
	welcome *events.Message
	rest    [][]byte // lines that came after the welcome
	resume  bool     // the hello asked to resume the client's session
	seq     uint64   // the hello's resume seq: counted messages received when it was sent
	token   string   // the hello's resume token
	rtt     time.Duration
}

// errLostRace is an attempt the ladder stopped before its hello: another one won.
var errLostRace = errors.New("another transport was welcomed first")

// handshake dials one transport and runs the hello/welcome exchange, within OpenTimeout
// and ctx. abort, when not nil, stops the attempt before its hello (errLostRace); once the
// hello is out, the attempt waits for its welcome (or OpenTimeout), so that a server
// session it opened can be released with a close. claim is called just before the hello
// is sent; when it returns false the attempt stops there (errLostRace) and the server
// never sees a hello.
func (c *Client) handshake(ctx, abort context.Context, name string, claim func() bool) (*opened, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	dctx := ctx // until the hello: ends with abort too
	if abort != nil {
		var dcancel context.CancelFunc
		dctx, dcancel = context.WithCancel(ctx)
		defer dcancel()
		defer context.AfterFunc(abort, dcancel)()
	}
	aborted := func(err error) error {
		if abort != nil && abort.Err() != nil {
			return errLostRace
		}
		return err
	}
	auth := c.opts.Auth
	if c.opts.AuthFunc != nil {
		var err error
		if auth, err = c.opts.AuthFunc(dctx); err != nil {
			if abort != nil && abort.Err() != nil {
				return nil, errLostRace
			}
			return nil, &authFuncError{err}
		}
	}
	c.mu.Lock()
	old, token, node := c.core, c.token, c.node
	c.mu.Unlock()
	resume := old != nil && old.Err() == nil
	if !resume {
		node = "" // a new session names no node (PROTOCOL.md §7, "Many nodes")
	}
	// A new session's hello without auth rides in the WebSocket upgrade, when the server
	// takes it (PROTOCOL.md §3): the welcome comes a round trip sooner.
	var early string
	if !resume && auth == nil {
		early = events.HelloProtocol(true, c.hb.interval().Milliseconds())
	}
	conn, err := dial.Dial(dctx, c.url, name, dial.Options{Header: c.opts.Header, HTTPClient: c.opts.HTTPClient, Resume: resume, Node: node, Hello: early})
	if err != nil {
		return nil, aborted(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close(events.CloseNormal, "open timeout") })
	defer stop()
	said := dial.HelloTaken(conn)
	if claim != nil && !claim() {
		if said { // the server opened a session for it: end that at once
			_ = conn.WriteFrame([][]byte{events.Encode(&events.Message{T: events.TypeClose, Code: events.CloseNormal, Reason: errLostRace.Error()})})
		}
		_ = conn.Close(events.CloseNormal, "")
		return nil, errLostRace
	}
	h := &opened{conn: conn, resume: resume}
	hello := &events.Message{T: events.TypeHello, V: events.Version, Bin: 1}
	if resume {
		// After claim: a probe's session stops counting for it there. Until the welcome (or
		// the failure), the transport still served (a probe's) reports no more than seq:
		// the server must keep every message after it.
		var release func()
		h.seq, release = old.HoldReports()
		defer release()
		h.token = token
		hello.Resume = &events.Resume{SID: old.ID(), Token: token, Seq: h.seq}
	}
	hello.Ping = c.hb.interval().Milliseconds() // heartbeat.go; 0 is left out
	if auth != nil {
		if hello.Auth, err = json.Marshal(auth); err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, err
		}
	}
	sent := time.Now()
	if !said { // else no round trip to measure: the welcome follows the upgrade
		if err := conn.WriteFrame([][]byte{events.Encode(hello)}); err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, err
		}
	}
	for h.welcome == nil {
		frame, err := conn.ReadFrame()
		if err != nil {
			_ = conn.Close(events.CloseNormal, "")
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no welcome within %v", c.opts.OpenTimeout)
			}
			return nil, err
		}
		err = events.Lines(frame, func(line []byte) error {
			if h.welcome != nil {
				h.rest = append(h.rest, line)
				return nil
			}
			m, err := events.Decode(line)
			if err != nil {
				return err
			}
			switch m.T {
			case events.TypeWelcome:
				h.welcome = &m
			case events.TypeClose:
				return &events.CloseError{Code: m.Code, Reason: m.Reason, Retry: m.Retry, Err: m.Err}
			}
			return nil
		})
		if err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, err
		}
	}
	if !said {
		h.rtt = time.Since(sent)
	}
	if !stop() { // the timeout fired and closed conn
		return nil, fmt.Errorf("no welcome within %v", c.opts.OpenTimeout)
	}
	return h, nil
}

// release closes a welcomed transport the client will not use. A new session the server
// opened for it is closed with a close message, so that the server releases it at once
// (it must not count against the address's limits or receive events); a transport that
// resumed the client's own session is only dropped: a close message would end the session.
func (c *Client) release(h *opened, reason string) {
	if h.welcome != nil && !h.welcome.Resumed {
		_ = h.conn.WriteFrame([][]byte{events.Encode(&events.Message{T: events.TypeClose, Code: events.CloseNormal, Reason: reason})})
	}
	_ = h.conn.Close(events.CloseNormal, reason)
}

// pause waits d, or returns why not: ctx would end first (its error), or Close (ErrClosed).
func (c *Client) pause(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return ErrClosed
	}
}

// retryHint is how long the server asked the client to wait before its next try: a close's
// retry field or an HTTP Retry-After; zero when it said nothing.
func retryHint(err error) time.Duration {
	var ce *events.CloseError
	if errors.As(err, &ce) && ce.Retry > 0 {
		return time.Duration(ce.Retry) * time.Millisecond
	}
	var he *dial.HTTPError
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}

// backoff is exponential from MinBackoff to MaxBackoff with full jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.MinBackoff << min(attempt, 20)
	if d <= 0 || d > c.opts.MaxBackoff {
		d = c.opts.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// authFuncError is an error of Options.AuthFunc.
type authFuncError struct{ err error }

func (e *authFuncError) Error() string { return "AuthFunc: " + e.err.Error() }
func (e *authFuncError) Unwrap() error { return e.err }
