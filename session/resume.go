package session

import (
	"context"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// handoff passes a resuming transport from Attach to Run.
type handoff struct {
	conn    transport.Conn
	lines   [][]byte
	seq     uint64                       // counted messages the peer has received
	welcome func(received uint64) []byte // the first message on conn; nil for none
	result  chan error                   // cap 1: nil, or why the session could not resume
	done    func()                       // called when the session is done with conn
}

// Run serves conn, and after each drop the next transport handed over by
// [Session.Attach], until the session ends; it returns why. While no transport is served
// it waits for an Attach up to Config.ResumeGrace, then ends the session with 1006.
// Before it returns, the session has ended, but a handler may still run: see
// [Session.Wait].
func (s *Session) Run(conn transport.Conn, lines [][]byte) error {
	done := make(chan error, 1)
	s.Start(conn, lines, func(err error) { done <- err })
	return <-done
}

// Start is Run without a goroutine waiting for the end: it returns at once, and done is
// called, on a goroutine of the session's, with Run's result. While a transport is served
// and the peer is silent, a session on a [transport.ReadWaiter] holds no goroutine;
// between transports one waits for the next.
func (s *Session) Start(conn transport.Conn, lines [][]byte, done func(error)) {
	s.runOn(conn, lines, nil, done)
}

// runOn serves conn, then the next transport handed over, and so on (see Run); taken is
// the handoff's, called when the session is done with conn.
func (s *Session) runOn(conn transport.Conn, lines [][]byte, taken func(), done func(error)) {
	if s.cfg.OnServe != nil {
		s.cfg.OnServe(conn)
	}
	s.serve(conn, lines, func(reason error) {
		if taken != nil {
			taken()
		}
		if s.ctx.Err() != nil {
			done(context.Cause(s.ctx))
			return
		}
		if s.cfg.OnDrop != nil {
			s.cfg.OnDrop(conn, reason)
		}
		h, err := s.awaitHandoff()
		if err != nil {
			done(err)
			return
		}
		s.runOn(h.conn, h.lines, h.done, done)
	})
}

// awaitHandoff waits for the next transport and prepares the session for it. The error is
// why the session ended instead.
func (s *Session) awaitHandoff() (*handoff, error) {
	s.tmu.Lock()
	wait := s.grace
	s.tmu.Unlock()
	if wait <= 0 {
		wait = s.cfg.ResumeGrace
	}
	grace := time.NewTimer(wait)
	defer grace.Stop()
	select {
	case h := <-s.handoff:
		var first []byte
		if h.welcome != nil {
			first = h.welcome(s.ReceivedSeq())
		}
		if !s.Resume(h.seq, first) {
			s.Abort(&events.CloseError{Code: events.CloseAbnormal, Reason: "resume impossible: messages lost"})
			h.result <- ErrResumeImpossible
			return nil, context.Cause(s.ctx)
		}
		h.result <- nil
		return h, nil
	case <-grace.C:
		if wait < s.cfg.ResumeGrace {
			s.Abort(&events.CloseError{Code: events.CloseGoingAway, Reason: "went away"})
			return nil, context.Cause(s.ctx)
		}
		s.Abort(&events.CloseError{Code: events.CloseAbnormal, Reason: "resume grace expired"})
		return nil, context.Cause(s.ctx)
	case <-s.ctx.Done():
		return nil, context.Cause(s.ctx)
	}
}

// Attach hands conn to the session's [Session.Run] for a resume: the transport served
// now, if any, is dropped with 4002 (replaced); once Run is free, it checks that every
// counted message after the peer's peerSeq is still retained, queues welcome (called with
// the count of messages received so far, and the welcome's bytes go first) and serves
// conn, with lines handled first. Attach returns a channel closed when the session is
// done with conn, or an error: [ErrResumeImpossible] (the session has ended), ErrClosed
// (it ended before), or ctx's error when Run did not take conn in time.
func (s *Session) Attach(ctx context.Context, conn transport.Conn, lines [][]byte, peerSeq uint64, welcome func(received uint64) []byte) (<-chan struct{}, error) {
	ch := make(chan struct{})
	if err := s.AttachFunc(ctx, conn, lines, peerSeq, welcome, func() { close(ch) }); err != nil {
		return nil, err
	}
	return ch, nil
}

// AttachFunc is Attach without a goroutine waiting for the session to be done with conn:
// done is called then (on a goroutine of the session's), unless AttachFunc returned an
// error.
func (s *Session) AttachFunc(ctx context.Context, conn transport.Conn, lines [][]byte, peerSeq uint64, welcome func(received uint64) []byte, done func()) error {
	s.replaceTransport(&events.CloseError{Code: events.CloseReplaced, Reason: "replaced by a newer connection"})
	h := &handoff{conn: conn, lines: lines, seq: peerSeq, welcome: welcome, result: make(chan error, 1), done: done}
	select {
	case s.handoff <- h:
	case <-s.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-h.result
}

// Resume prepares a detached session for the next transport: the peer has received
// peerSeq counted messages, so the retained messages after it are sent again, in order,
// after first (the welcome) and before what is queued. It reports false, changing
// nothing, when those messages are not all retained any more (or peerSeq is impossible):
// the peer must then start a new session. [Session.Attach] calls it; a client that dials
// the next transport itself calls it before [Session.Serve].
func (s *Session) Resume(peerSeq uint64, first []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.ResumeBytes < 0 || s.ctx.Err() != nil || peerSeq > s.outSeq.Load() {
		return false
	}
	// What the peer may lack: the retained messages, then numbered ones still queued from
	// an earlier resume whose transport died before they were written. Stale control
	// messages (an earlier welcome, pings) are dropped; a close message stays.
	var pool, fresh []item
	pool = s.retained.appendTo(pool)
	for _, it := range s.queue {
		switch {
		case it.seq != 0:
			pool = append(pool, it)
		case it.control && !it.closeMsg:
		case it.volatile: // not written before the drop: dropped
		default:
			fresh = append(fresh, it)
		}
	}
	i := 0
	for i < len(pool) && pool[i].seq <= peerSeq {
		i++
	}
	rest := pool[i:]
	switch {
	case len(rest) > 0 && rest[0].seq != peerSeq+1:
		return false
	case len(rest) == 0 && peerSeq != s.outSeq.Load():
		return false
	}
	q := make([]item, 0, 1+len(rest)+len(fresh))
	if first != nil {
		q = append(q, item{b: first, control: true})
	}
	q = append(q, rest...)
	s.queue = append(q, fresh...)
	s.retained, s.retainedBytes, s.lost = ring{}, 0, false
	s.signal()
	return true
}

// trim forgets the retained messages the peer has acknowledged.
func (s *Session) trim(peerSeq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.retained
	for r.len() > 0 && r.at(0).seq <= peerSeq {
		s.retainedBytes -= len(r.pop().b)
	}
	if r.len() == 0 && len(r.buf) > keepRetained {
		*r = ring{} // an idle session does not keep the room of its largest burst
	}
}

// keepRetained is how many retained messages' room (48 bytes each) a session keeps once
// everything is acknowledged.
const keepRetained = 64

// retain keeps written counted messages for a resume, dropping the oldest past the bound.
func (s *Session) retain(batch []item) {
	if s.cfg.ResumeBytes < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range batch {
		if it.seq != 0 {
			s.retained.push(it)
			s.retainedBytes += len(it.b)
		}
	}
	for s.retainedBytes > s.cfg.ResumeBytes && s.retained.len() > 0 {
		s.retainedBytes -= len(s.retained.pop().b)
		s.lost = true
	}
}
