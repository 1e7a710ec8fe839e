package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
// Serve returns after the transport's reader and writer have stopped; the dispatcher
// outlives it (see [Session.Wait]). [Session.Start] is Serve without a goroutine waiting.
func (s *Session) Serve(conn transport.Conn, lines [][]byte) error {
	done := make(chan error, 1)
	s.serve(conn, lines, func(err error) { done <- err })
	return <-done
}

// served is one transport being served. Its reader and its writer are goroutines only
// while they have work: the writer is started by the first message queued and ends when
// the queue is empty; the reader, on a [transport.ReadWaiter], ends when no bytes are
// buffered and is started again by the poller when some arrive. Heartbeats are timers.
type served struct {
	s       *Session
	conn    transport.Conn
	tctx    context.Context // not a child of the session's: see Session.cancel
	tcancel context.CancelCauseFunc
	closing atomic.Bool // the closer started
	bf      transport.BinaryFramer
	fw      transport.FinalWriter // conn, when its writes may wait for the peer's next request; else nil
	rw      transport.ReadWaiter
	readFn  func()
	end     func(error)
	closed  chan struct{} // the closer has closed conn

	// The writer: wstate is wIdle, wRunning, wPending (running, and more was queued since
	// it looked), wLinger (waiting a moment on wake before it ends) or wStopped; it leaves
	// wIdle only under wmu, where writers are counted.
	wstate  atomic.Int32
	wmu     sync.Mutex
	writers sync.WaitGroup
	wake    chan struct{} // cap 1: a kick woke the lingering writer
	lt      *time.Timer   // the writer's linger
	wrote   bool          // the writer wrote since lt last fired
	spare   []item        // the writer's other batch buffer

	// Heartbeats: the timers' callbacks.
	hmu       sync.Mutex
	ping      *time.Timer
	pong      *time.Timer
	pingSent  int64 // guarded by hmu
	pongArmed bool  // guarded by hmu

	n int // messages read: the reader yields now and then
}

const (
	wIdle int32 = iota
	wRunning
	wPending
	wLinger
	wStopped
)

// serve starts serving conn and returns; end is called, once, with Serve's result when
// the transport has ended and its reader and writer have stopped.
func (s *Session) serve(conn transport.Conn, lines [][]byte, end func(error)) {
	tctx, tcancel := context.WithCancelCause(context.Background())
	t := &served{s: s, conn: conn, tctx: tctx, tcancel: tcancel, end: end, closed: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.tmu.Lock()
	if s.tcancel != nil {
		s.tmu.Unlock()
		panic("session: Serve while another transport is served")
	}
	s.tcancel, s.dropped = t.cancel, false
	s.tmu.Unlock()
	if s.ctx.Err() != nil { // ended before s.tcancel was set: cancel did not see it
		tcancel(nil)
		ce := events.Cause(context.Cause(s.ctx))
		_ = conn.Close(ce.Code, ce.Reason)
		s.detach()
		end(ce)
		return
	}
	s.lastRead.Store(time.Now().UnixNano())
	s.meter = nopMeter{}
	if s.cfg.Meter != nil {
		if m := s.cfg.Meter(conn); m != nil {
			s.meter = m
		}
	}
	t.bf, _ = conn.(transport.BinaryFramer)
	t.fw, _ = conn.(transport.FinalWriter)
	t.rw, _ = conn.(transport.ReadWaiter)
	t.readFn = t.read
	t.startHeartbeat()
	s.cur.Store(t)
	// What was queued while no transport was served (a new session's welcome) is written
	// on this goroutine, and a silent peer's reader is left to the poller: a new
	// connection starts no goroutine of its own.
	t.writeHere(false)
	if len(lines) == 0 && t.rw != nil && t.tctx.Err() == nil && t.rw.WaitRead(t.readFn) {
		return
	}
	go t.readFirst(lines)
}

// cancel ends the transport with err (the first cause wins) and closes conn on a
// goroutine of its own, once: closing frees a writer stuck on a stalled peer at once.
// Every end of a transport comes through here (the session's end too: see
// Session.cancel), which costs less than a context.AfterFunc (about 300 B a transport).
func (t *served) cancel(err error) {
	t.tcancel(err)
	if t.closing.CompareAndSwap(false, true) {
		go t.close()
	}
}

func (t *served) close() {
	defer close(t.closed)
	ce := events.Cause(context.Cause(t.tctx))
	_ = t.conn.Close(ce.Code, ce.Reason)
}

// finish ends the transport after the reader stopped with err, and calls end.
func (t *served) finish(err error) {
	s := t.s
	t.cancel(err)
	t.wmu.Lock()
	t.wstate.Store(wStopped)
	t.wmu.Unlock()
	t.writers.Wait()
	<-t.closed
	t.stopHeartbeat()
	s.cur.CompareAndSwap(t, nil)
	s.detach()
	t.end(s.result(t.tctx))
}

// result is what Serve returns once the transport of tctx has ended.
func (s *Session) result(tctx context.Context) error {
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
