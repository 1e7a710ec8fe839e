package session

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// yieldEvery is how many incoming messages the reader handles between yields.
const yieldEvery = 16

// readLoop is the reader: it reads conn until it fails or tctx ends, and returns why.
func (s *Session) readLoop(tctx context.Context, conn transport.Conn, lines [][]byte) error {
	n := 0
	handle := func(l []byte) error {
		// A frame may carry many messages; yielding now and then keeps one session's
		// batch (a flood, say) from holding a processor while other sessions wait.
		if n++; n%yieldEvery == 0 {
			runtime.Gosched()
		}
		return s.handleLine(tctx, l)
	}
	for _, l := range lines {
		if err := handle(l); err != nil {
			return err
		}
	}
	for {
		frame, err := conn.ReadFrame()
		if err != nil {
			if tctx.Err() != nil {
				return context.Cause(tctx)
			}
			switch ce := events.Cause(err); ce.Code {
			case events.CloseTooBig, events.CloseInvalidPayload, events.CloseUnsupportedData, events.CloseProtocolError:
				return ce // the peer broke a rule: no resume
			default:
				return &dropError{ce}
			}
		}
		s.lastRead.Store(time.Now().UnixNano())
		if err := events.Lines(frame, handle); err != nil {
			return err
		}
		if s.cfg.ResumeBytes >= 0 && s.inSeq.Load()-s.reported.Load() >= reportEvery {
			s.signal() // the writer acknowledges what arrived
		}
	}
}

func (s *Session) handleLine(tctx context.Context, line []byte) error {
	m, err := events.Decode(line)
	if err != nil {
		s.log.Warn("bad message", "err", err)
		return &events.CloseError{Code: events.CloseProtocolError, Reason: err.Error()}
	}
	if s.cfg.RateLimit > 0 && m.T != events.TypePong && m.T != events.TypeAck && m.T != events.TypeClose && !s.allow() {
		if s.refused > 2*s.cfg.RateBurst {
			s.log.Warn("rate limit exceeded", "refused", s.refused)
			return &events.CloseError{Code: events.ClosePolicyViolation, Reason: "rate limit exceeded"}
		}
		if m.T == events.TypeEvent {
			s.inSeq.Add(1) // received and counted, though not handled
			if m.ID != 0 {
				return s.ignoreClosed(s.Reply(m.ID, nil, &events.ErrorBody{Code: "rate_limited", Message: "too many messages, slow down"}))
			}
		}
		return nil
	}
	switch m.T {
	case events.TypePing:
		if m.R > 0 {
			s.trim(m.R)
		}
		return s.ignoreClosed(s.SendControl(events.AppendPing(nil, true, s.inSeq.Load())))
	case events.TypePong:
		if m.R > 0 {
			s.trim(m.R)
		}
		return nil
	case events.TypeAck:
		s.inSeq.Add(1)
		s.complete(&m)
		return nil
	case events.TypeEvent:
		return s.queueEvent(tctx, &m)
	case events.TypeClose:
		code := m.Code
		if code == 0 {
			code = events.CloseNormal
		}
		return &events.CloseError{Code: code, Reason: m.Reason}
	default: // hello or welcome after the handshake
		return &events.CloseError{Code: events.CloseProtocolError, Reason: "unexpected " + m.T}
	}
}

// queueEvent hands m to the dispatcher, waiting while MaxQueuedEvents wait already. An
// event is counted once handed over: one lost with its transport before that is not
// acknowledged, so the peer sends it again after a resume.
func (s *Session) queueEvent(tctx context.Context, m *events.Message) error {
	select {
	case s.evq <- m:
		s.inSeq.Add(1)
		s.wakeDispatcher()
		return nil
	default:
	}
	s.readerBlocked.Store(true)
	defer func() {
		s.lastRead.Store(time.Now().UnixNano())
		s.readerBlocked.Store(false)
	}()
	select {
	case s.evq <- m:
		s.inSeq.Add(1)
		s.wakeDispatcher()
		return nil
	case <-tctx.Done():
		return context.Cause(tctx)
	}
}

// allow takes a token from the rate limit bucket.
func (s *Session) allow() bool {
	now := time.Now()
	if s.refill.IsZero() {
		s.tokens, s.refill = float64(s.cfg.RateBurst), now
	}
	s.tokens = min(float64(s.cfg.RateBurst), s.tokens+now.Sub(s.refill).Seconds()*s.cfg.RateLimit)
	s.refill = now
	if s.tokens < 1 {
		s.refused++
		return false
	}
	s.tokens--
	s.refused = 0
	return true
}

func (s *Session) ignoreClosed(err error) error {
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
