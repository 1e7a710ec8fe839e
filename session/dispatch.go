package session

import (
	"time"

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

// dispatchLinger is how long a dispatcher whose queue is empty waits for the next event
// before it ends (between one and two of it), like the writer's writeLinger: a busy
// session keeps its dispatcher, and the stack its handlers grew, instead of starting a
// goroutine per event. A goroutine per event showed as about 8 % of the echo benchmark's
// CPU profile (most of it growing the new goroutine's stack in the handler); the linger
// measured 2-3.5 % less CPU per round trip.
const dispatchLinger = 100 * time.Millisecond

// dispatchLoop handles the queued events in order, one at a time, and exits when none
// came for dispatchLinger (or the session has ended).
func (s *Session) dispatchLoop() {
	defer s.dispatchers.Done()
	var linger *time.Timer // made when the queue first runs dry
	handled := false       // an event was handled since linger was last armed
	for {
		for s.ctx.Err() == nil {
			var m *events.Message
			select {
			case m = <-s.evq:
			default:
				if linger == nil {
					linger, handled = time.AfterFunc(dispatchLinger, s.tickFn), false
				}
				select {
				case m = <-s.evq:
				case <-s.ctx.Done():
				case <-s.dtick:
					if handled { // reset once per dispatchLinger, not once per wait
						handled = false
						linger.Reset(dispatchLinger)
						continue
					}
					linger = nil
				}
			}
			if m == nil {
				break
			}
			handled = true
			s.dispatch(m)
		}
		if s.idleHook != nil {
			s.idleHook()
		}
		s.dispatching.Store(false)
		// An event queued after the last receive but before the Store saw a dispatcher
		// running and started none: take it on, unless another dispatcher already has.
		if len(s.evq) == 0 || s.ctx.Err() != nil || !s.dispatching.CompareAndSwap(false, true) {
			if linger != nil {
				linger.Stop()
			}
			return
		}
	}
}

// tick is the dispatcher's linger timer firing. It is a function timer feeding a channel
// of the session's, not a timer's channel: a select on a timer's channel adds the timer
// to the runtime's heap each time it waits and removes it after (Go 1.23's timers), 2-3 %
// of the echo benchmark's CPU; this one stays in the heap while the dispatcher lingers.
func (s *Session) tick() {
	select {
	case s.dtick <- struct{}{}:
	default: // one waits already
	}
}

func (s *Session) dispatch(m *events.Message) {
	s.holdReplies.Store(true)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "event", m.Name, "panic", r)
			s.Abort(&events.CloseError{Code: events.CloseInternalError, Reason: "internal error"})
		}
		s.holdReplies.Store(false)
		if s.repliesHeld.Swap(false) {
			s.flushReplies()
		}
	}()
	s.h.HandleEvent(s.ctx, m)
}

// sendReply queues a reply. While a handler runs it leaves the writer to the dispatcher
// (flushReplies), unless the handler has returned meanwhile.
func (s *Session) sendReply(b []byte) error {
	if !s.holdReplies.Load() {
		return s.Send(b, true)
	}
	if err := s.push(item{b: b, counted: true}); err != nil {
		return err
	}
	s.repliesHeld.Store(true)
	if !s.holdReplies.Load() { // the dispatcher may have looked at repliesHeld already
		s.signal()
	}
	return nil
}

// flushReplies writes the replies a handler queued, once it has returned: on the
// dispatcher's goroutine when no writer is writing and no other event waits, which saves
// the request the writer's wake-up (a goroutine switch); otherwise the writer is kicked
// as for any message. Not on a transport whose writes wait for the peer's next request
// (SockJS, see transport.FinalWriter): the session's next events would wait for it too.
// A WebSocket write waits only for a peer that reads nothing, and at most WriteTimeout.
func (s *Session) flushReplies() {
	t := s.cur.Load()
	if t == nil {
		return // the next transport's first writer writes them
	}
	if !t.flow && len(s.evq) == 0 && t.writeHere(true) {
		return
	}
	t.kick()
}
