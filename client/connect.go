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

// connect tries the transports in order until one delivers a welcome, starting with the
// one that last asked the client to come back later. It stops at a transport on which the
// server refused the client (a terminal close code, an HTTP 403: another transport would
// not help) or asked it to come back later (429, 503, a close before the welcome: see
// comeBack); the next connect then starts with that transport again. The error carries
// the close code of such an answer (PROTOCOL.md §5, HTTP refusals).
func (c *Client) connect(ctx context.Context) (transport.Conn, *session.Session, [][]byte, error) {
	var errs []error
	names := c.opts.Transports
	from := min(c.from, len(names)-1)
	c.from = 0
	for i := from; i < len(names); i++ {
		conn, core, lines, err := c.open(ctx, names[i])
		if err == nil {
			return conn, core, lines, nil
		}
		var ae *authFuncError
		if errors.As(err, &ae) { // no credentials: another transport would not help
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %w", c.url, err)
		}
		code := events.CloseCode(err)
		switch {
		case code != 0 && !events.Reconnect(code):
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %s: refused, no other transport tried: %w", c.url, names[i], err)
		case comeBack(code):
			c.from = i
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %s: come back later: %w", c.url, names[i], err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", names[i], err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %w", c.url, errors.Join(errs...))
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

// open dials one transport and runs the handshake.
func (c *Client) open(ctx context.Context, name string) (transport.Conn, *session.Session, [][]byte, error) {
	auth := c.opts.Auth
	if c.opts.AuthFunc != nil {
		var err error
		if auth, err = c.opts.AuthFunc(ctx); err != nil {
			return nil, nil, nil, &authFuncError{err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	c.mu.Lock()
	old, token, node := c.core, c.token, c.node
	c.mu.Unlock()
	resume := old != nil && old.Err() == nil
	if !resume {
		node = "" // a new session names no node (PROTOCOL.md §7, "Many nodes")
	}
	conn, err := dial.Dial(ctx, c.url, name, dial.Options{Header: c.opts.Header, HTTPClient: c.opts.HTTPClient, Resume: resume, Node: node})
	if err != nil {
		return nil, nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close(events.CloseNormal, "open timeout") })
	defer stop()
	hello := &events.Message{T: events.TypeHello, V: events.Version, Bin: 1}
	if resume {
		hello.Resume = &events.Resume{SID: old.ID(), Token: token, Seq: old.ReceivedSeq()}
	}
	hello.Ping = c.hb.interval().Milliseconds() // heartbeat.go; 0 is left out
	if auth != nil {
		if hello.Auth, err = json.Marshal(auth); err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, nil, nil, err
		}
	}
	if err := conn.WriteFrame([][]byte{events.Encode(hello)}); err != nil {
		_ = conn.Close(events.CloseNormal, "")
		return nil, nil, nil, err
	}
	var welcome *events.Message
	var rest [][]byte
	for welcome == nil {
		frame, err := conn.ReadFrame()
		if err != nil {
			_ = conn.Close(events.CloseNormal, "")
			if ctx.Err() != nil {
				return nil, nil, nil, fmt.Errorf("no welcome within %v", c.opts.OpenTimeout)
			}
			return nil, nil, nil, err
		}
		err = events.Lines(frame, func(line []byte) error {
			if welcome != nil {
				rest = append(rest, line)
				return nil
			}
			m, err := events.Decode(line)
			if err != nil {
				return err
			}
			switch m.T {
			case events.TypeWelcome:
				welcome = &m
			case events.TypeClose:
				return &events.CloseError{Code: m.Code, Reason: m.Reason, Retry: m.Retry, Err: m.Err}
			}
			return nil
		})
		if err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, nil, nil, err
		}
	}
	if !stop() { // the timeout fired and closed conn
		return nil, nil, nil, fmt.Errorf("no welcome within %v", c.opts.OpenTimeout)
	}
	core, err := c.adopt(conn, welcome)
	if err != nil {
		return nil, nil, nil, err
	}
	return conn, core, rest, nil
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
