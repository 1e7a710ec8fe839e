package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sockhop/sockhop/events"
)

// overheadBytes is what one queued message costs beyond its bytes, for the queue bound.
const overheadBytes = 32

// item is one queued or retained message.
type item struct {
	b        []byte
	counted  bool   // an ev or ack: counted by sequence numbers
	control  bool   // ping, pong, welcome, close: exempt from the byte bound
	volatile bool   // SendVolatile: dropped rather than sent again after a drop, unless written
	seq      uint64 // the sequence number, once written (0 = not yet)

	closeMsg bool // the close message of a graceful Close
}

// Send enqueues one encoded message. b must not be modified afterwards: broadcasts
// enqueue the same bytes to many sessions. Send never blocks; when the queue would
// exceed its bound it closes the session with 1013 and returns ErrSlowConsumer.
func (s *Session) Send(b []byte, counted bool) error {
	return s.enqueue(item{b: b, counted: counted})
}

// SendVolatile enqueues one encoded event that may be dropped: it is, and SendVolatile
// returns false, when no transport is served at the moment (the session waits for a
// resume), when the queue already holds more than Config.VolatileBytes (the peer is slow),
// or when the session is closing. A volatile message never closes the session for its
// queue, and one still queued when its transport drops is dropped too. Once written it is
// counted and kept for a resume like any event: the peer's count of events includes it.
func (s *Session) SendVolatile(b []byte) bool {
	s.mu.Lock()
	if s.closing != nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		return false
	}
	n := len(b) + overheadBytes
	if s.queued+n > s.cfg.VolatileBytes || s.queued+n > s.cfg.MaxQueueBytes || !s.serving() {
		s.mu.Unlock()
		return false
	}
	s.queued += n
	s.queue = append(s.queue, item{b: b, counted: true, volatile: true})
	s.mu.Unlock()
	s.signal()
	return true
}

// serving reports whether a transport is served and has not dropped.
func (s *Session) serving() bool {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	return s.tcancel != nil && !s.dropped
}

// SendControl enqueues a control message (welcome, ping, pong) outside the byte bound.
func (s *Session) SendControl(b []byte) error {
	return s.enqueue(item{b: b, control: true})
}

func (s *Session) enqueue(it item) error {
	if err := s.push(it); err != nil {
		return err
	}
	s.signal()
	return nil
}

// push queues it without waking the writer.
func (s *Session) push(it item) error {
	s.mu.Lock()
	if s.closing != nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		return ErrClosed
	}
	if !it.control {
		n := len(it.b) + overheadBytes
		if queued := s.queued; queued+n > s.cfg.MaxQueueBytes {
			if s.cfg.RefuseWhenFull {
				s.mu.Unlock()
				return ErrQueueFull
			}
			dropped := len(s.queue) + 1
			s.mu.Unlock()
			if f := s.cfg.OnSlowConsumer; f != nil && s.ctx.Err() == nil && s.slow.CompareAndSwap(false, true) {
				f(dropped)
			}
			s.log.Warn("slow consumer", "queued", queued, "max", s.cfg.MaxQueueBytes)
			s.Abort(&events.CloseError{Code: events.CloseTryAgainLater, Reason: "slow consumer"})
			return ErrSlowConsumer
		}
		s.queued += n
	}
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	return nil
}

// Request emits event name asking for an ack and waits for the reply, ctx, the ack
// timeout or the end of the session. An error ack comes back as *events.ErrorBody.
// A reply in bytes (a binary ack) comes back as a JSON string of their base64, which
// decodes into a []byte; RequestMessage gives the bytes as they are.
func (s *Session) Request(ctx context.Context, name string, data json.RawMessage) (json.RawMessage, error) {
	m, err := s.RequestMessage(ctx, name, func(id uint64) []byte { return events.AppendEvent(nil, name, data, id) })
	if err != nil {
		return nil, err
	}
	if m.B != nil {
		return json.Marshal(m.B)
	}
	return m.Data, nil
}

// RequestMessage is Request for any encoding of the event: enc encodes it with ack id id
// (events.AppendEvent, events.AppendBinaryEvent). It returns the ack: its Data, or its B
// for a reply in bytes; an error ack comes back as *events.ErrorBody.
func (s *Session) RequestMessage(ctx context.Context, name string, enc func(id uint64) []byte) (*events.Message, error) {
	ch := make(chan *events.Message, 1)
	s.ackMu.Lock()
	if len(s.pending) >= s.cfg.MaxPendingAcks {
		s.ackMu.Unlock()
		return nil, ErrTooManyAcks
	}
	s.nextID++
	id := s.nextID
	if s.pending == nil { // made by the first request: most sessions never make one
		s.pending = make(map[uint64]chan *events.Message)
	}
	s.pending[id] = ch
	s.ackMu.Unlock()
	defer func() {
		s.ackMu.Lock()
		delete(s.pending, id)
		s.ackMu.Unlock()
	}()
	if err := s.Send(enc(id), true); err != nil {
		return nil, err
	}
	t := time.NewTimer(s.cfg.AckTimeout)
	defer t.Stop()
	select {
	case m := <-ch:
		if m.Err != nil {
			return nil, m.Err
		}
		return m, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %s after %v", ErrAckTimeout, name, s.cfg.AckTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, ErrClosed
	}
}

// complete hands an ack to the Request waiting for it, if any.
// isPending reports whether a Request waits for the ack with id.
func (s *Session) isPending(id uint64) bool {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	_, ok := s.pending[id]
	return ok
}

func (s *Session) complete(m *events.Message) {
	s.ackMu.Lock()
	ch := s.pending[m.ID]
	delete(s.pending, m.ID)
	s.ackMu.Unlock()
	if ch == nil {
		s.log.Debug("ack for no pending request", "id", m.ID)
		return
	}
	ch <- m
}
