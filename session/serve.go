package session

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// dropError is the cause of a transport that dropped (a network error, a heartbeat
// timeout, a write failure, a newer transport taking over): the session may resume.
type dropError struct {
	ce    *events.CloseError
	grace time.Duration // how long to wait for a resume; zero: Config.ResumeGrace
}

func (d *dropError) Error() string { return d.ce.Error() }
func (d *dropError) Unwrap() error { return d.ce }

// Dropped reports whether err (from Serve) means the transport dropped and the session
// lives on, waiting for a resume.
func Dropped(err error) bool {
	var d *dropError
	return errors.As(err, &d)
}

// Serve runs the session over conn until the connection or the session ends, and returns
// why (a *events.CloseError). When the transport dropped (see [Dropped]) and resume is on,
// the session lives on, detached: its queue keeps filling within its bound, and a later
// Serve on another transport, after [Session.Resume], carries on. Otherwise the session
// has ended. lines are messages that arrived with the handshake, handled first.
//
// Serve runs the reader on the caller's goroutine and the writer on one of its own, and
// returns after both have stopped; the dispatcher outlives it (see [Session.Wait]).
func (s *Session) Serve(conn transport.Conn, lines [][]byte) error {
	tctx, tcancel := context.WithCancelCause(s.ctx)
	defer tcancel(nil)
	s.tmu.Lock()
	if s.tcancel != nil {
		s.tmu.Unlock()
		panic("session: Serve while another transport is served")
	}
	s.tcancel, s.dropped = tcancel, false
	s.tmu.Unlock()
	if s.ctx.Err() != nil {
		ce := events.Cause(context.Cause(s.ctx))
		_ = conn.Close(ce.Code, ce.Reason)
		s.detach()
		return ce
	}
	s.lastRead.Store(time.Now().UnixNano())
	s.meter = nopMeter{}
	if s.cfg.Meter != nil {
		if m := s.cfg.Meter(conn); m != nil {
			s.meter = m
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.writeLoop(tctx, conn) })
	closed := make(chan struct{})
	context.AfterFunc(tctx, func() { // closing the transport frees a writer stuck on a stalled peer at once
		defer close(closed)
		ce := events.Cause(context.Cause(tctx))
		_ = conn.Close(ce.Code, ce.Reason)
	})
	err := s.readLoop(tctx, conn, lines)
	tcancel(err)
	wg.Wait()
	<-closed
	s.detach()
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	cause := context.Cause(tctx)
	if Dropped(cause) && s.cfg.ResumeBytes >= 0 {
		s.tmu.Lock()
		s.dropped = true
		s.grace = s.cfg.ResumeGrace
		var d *dropError
		if errors.As(cause, &d) && d.grace > 0 {
			s.grace = d.grace
		}
		s.tmu.Unlock()
		if s.closingSet() { // a Close raced the drop: nobody will flush it now
			s.cancel(events.Cause(cause))
			return context.Cause(s.ctx)
		}
		return cause
	}
	s.cancel(events.Cause(cause))
	return context.Cause(s.ctx)
}

func (s *Session) closingSet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing != nil
}

func (s *Session) detach() {
	s.tmu.Lock()
	s.tcancel = nil
	s.tmu.Unlock()
}

// replaceTransport ends the transport being served, if any, with ce, keeping the session
// for a resume (a newer transport is taking over).
func (s *Session) replaceTransport(ce *events.CloseError) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.tcancel != nil {
		s.tcancel(&dropError{ce: ce})
	}
}

// dropTransport ends the transport tctx belongs to, if it is still the one served (the
// session may resume).
func (s *Session) dropTransport(tctx context.Context, code int, reason string) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.tcancel != nil && tctx.Err() == nil {
		s.tcancel(&dropError{ce: &events.CloseError{Code: code, Reason: reason}})
	}
}
