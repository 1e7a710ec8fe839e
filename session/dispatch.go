package session

import (
	"github.com/sockhop/sockhop/events"
)

// wakeDispatcher starts a dispatcher unless one runs. An idle session has none: a
// goroutine (and its stack) per session only while it has events to handle. Once Wait
// was called (the session has ended) none starts.
func (s *Session) wakeDispatcher() {
	if !s.dispatching.CompareAndSwap(false, true) {
		return
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.waited {
		s.dispatching.Store(false)
		return
	}
	s.dispatchers.Add(1)
	go s.dispatchFn()
}

// dispatchLoop handles the queued events in order, one at a time, and exits when none is
// left (or the session has ended).
func (s *Session) dispatchLoop() {
	defer s.dispatchers.Done()
	for {
		for {
			var m *events.Message
			select {
			case m = <-s.evq:
			default:
			}
			if m == nil || s.ctx.Err() != nil {
				if s.idleHook != nil {
					s.idleHook()
				}
				break
			}
			s.dispatch(m)
		}
		s.dispatching.Store(false)
		// An event queued after the last receive but before the Store saw a dispatcher
		// running and started none: take it on, unless another dispatcher already has.
		if len(s.evq) == 0 || s.ctx.Err() != nil || !s.dispatching.CompareAndSwap(false, true) {
			return
		}
	}
}

func (s *Session) dispatch(m *events.Message) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "event", m.Name, "panic", r)
			s.Abort(&events.CloseError{Code: events.CloseInternalError, Reason: "internal error"})
		}
	}()
	s.h.HandleEvent(s.ctx, m)
}
