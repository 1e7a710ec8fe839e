package session

import (
	"sync"
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
	s.dq = s.evq
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
//
// It waits with a plain receive on evq: the linger timer and the session's end wake it
// with a nil there (tick, wake). A select on evq, a timer channel and the context's Done
// was 4 % of the echo benchmark's CPU profile; a receive is a quarter of that.
func (s *Session) dispatchLoop() {
	defer s.dispatchers.Done()
	var linger *time.Timer // armed when the queue first runs dry
	handled := false       // an event was handled since linger was last armed
	for {
		for s.ctx.Err() == nil {
			var m *events.Message
			select {
			case m = <-s.evq:
			default:
				if linger == nil {
					s.fired.Store(false)
					linger, handled = time.AfterFunc(dispatchLinger, s.tickFn), false
				}
				s.idle.Store(true)
				if !s.fired.Load() {
					m = <-s.evq
				}
				s.idle.Store(false)
			}
			if m == nil { // a wake-up: the timer's, a stale one, or the session's end
				if !s.fired.Swap(false) {
					continue
				}
				if handled { // reset once per dispatchLinger, not once per wait
					handled = false
					linger.Reset(dispatchLinger)
					continue
				}
				linger = nil
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
		// (So is a wake-up, which a dispatcher consumes: it takes no event's room.)
		if len(s.evq) == 0 || s.ctx.Err() != nil || !s.dispatching.CompareAndSwap(false, true) {
			if linger != nil {
				linger.Stop()
			}
			return
		}
	}
}

// tick is the dispatcher's linger timer firing: it marks it fired and, when the dispatcher
// waits on evq, wakes it with a nil. A busy dispatcher sees the mark before it next
// waits, and no wake-up takes the room of an event it has yet to handle. (A function
// timer, not a timer's channel: a select on a timer's channel adds the timer to the
// runtime's heap each time it waits and removes it after, Go 1.23's timers.)
func (s *Session) tick() {
	s.fired.Store(true)
	if s.idle.Load() {
		select {
		case s.evq <- nil:
		default: // full: it is not waiting
		}
	}
}

// wake wakes a dispatcher waiting on evq, for the session's end.
func (s *Session) wake() {
	s.dmu.Lock()
	q := s.dq
	s.dmu.Unlock()
	if q != nil {
		select {
		case q <- nil:
		default: // full: the dispatcher is busy, and checks the context before it waits
		}
	}
}

// queued recycles the messages handed from the reader to the dispatcher: a handler has
// one until it returns (see [Handler]). A message copied to the heap for every event was
// 63 % of the bytes the server allocated per echo round trip (288 of 460).
var queued = sync.Pool{New: func() any { return new(events.Message) }}

// queuedMessage is a copy of m for the dispatcher, which recycles it (dispatch).
func queuedMessage(m *events.Message) *events.Message {
	q := queued.Get().(*events.Message)
	*q = *m
	return q
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
		*m = events.Message{} // the handler's data stays where it kept it
		queued.Put(m)
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
// as for any message. On a transport whose writes may wait for the peer's next request
// (SockJS, see transport.FinalWriter) only while they would not: the session's next
// events would wait for it too. A WebSocket write waits only for a peer that reads
// nothing, and at most WriteTimeout.
func (s *Session) flushReplies() {
	t := s.cur.Load()
	if t == nil {
		return // the next transport's first writer writes them
	}
	if len(s.evq) == 0 && (t.fw == nil || t.fw.Writable()) && t.writeHere(true) {
		return
	}
	t.kick()
}
