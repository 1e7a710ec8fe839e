package session

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// yieldEvery is how many incoming messages the reader decodes or handles between yields.
const yieldEvery = 16

// keepMessages is how many lines and decoded messages (about 250 bytes each) the reader
// keeps room for between frames; a larger frame's room is let go after it, so that an
// idle session does not keep the room of the largest frame it ever got.
const keepMessages = 64

// inMessage is one line of a frame being handled: a decoded message, or an empty line
// (T == "").
type inMessage struct {
	events.Message
	refused bool // over the message rate: an event answered "rate_limited", a ping unanswered
}

// readFirst is the reader's first run: lines arrived with the handshake, handled first,
// as one frame.
func (t *served) readFirst(lines [][]byte) {
	if len(lines) > 0 {
		if err := t.s.handleFrame(t.tctx, lines, t.yield); err != nil {
			t.finish(err)
			return
		}
	}
	t.readOn(false)
}

// yield gives the processor away now and then: a frame may carry many messages, and
// yielding keeps one session's batch (a flood, say) from holding a processor while other
// sessions wait.
func (t *served) yield() {
	if t.n++; t.n%yieldEvery == 0 {
		runtime.Gosched()
	}
}

// read is the reader, started by the poller: bytes are waiting.
func (t *served) read() { t.readOn(true) }

// readOn is the reader: it reads conn until it fails or the transport ends, then finishes
// the transport; or, on a ReadWaiter, until no bytes are waiting, and then ends until the
// poller starts it again. ready: bytes are waiting, read without asking.
func (t *served) readOn(ready bool) {
	s := t.s
	for {
		if !ready && t.rw != nil && t.tctx.Err() == nil && t.rw.WaitRead(t.readFn) {
			return
		}
		ready = false
		var frame []byte
		var bin bool
		var err error
		if t.bf != nil {
			frame, bin, err = t.bf.ReadMessage()
		} else {
			frame, err = t.conn.ReadFrame()
		}
		if err != nil {
			t.stop(t.readError(err))
			return
		}
		s.lastRead.Store(time.Now().UnixNano())
		if bin {
			s.meter.Received(1, len(frame))
			err = s.handleBinary(t.tctx, frame, t.yield)
		} else {
			s.lines = splitLines(s.lines[:0], frame)
			s.meter.Received(len(s.lines), len(frame))
			err = s.handleFrame(t.tctx, s.lines, t.yield)
			clear(s.lines)
			if cap(s.lines) > keepMessages {
				s.lines = nil
			}
		}
		if err != nil {
			t.stop(err)
			return
		}
		if s.cfg.ResumeBytes >= 0 && s.inSeq.Load()-s.reported.Load() >= reportLate {
			s.signal() // the writer acknowledges what arrived
		}
		if s.handedOver {
			// The frame's events woke the dispatcher: let it answer before this goroutine
			// looks for the next frame. On a busy server the look mostly finds nothing
			// and parks, a system call and a goroutine switch the reply would otherwise
			// wait behind (echo p50 -4 % against Centrifuge, 3 runs of 8 alternated
			// pairs; bench/results/2026-12-04-echo.md). Not on SockJS (a FinalWriter):
			// there this goroutine answers the xhr_send next, which the client waits for
			// as much as for the reply (yielding cost xhr-streaming 15 %).
			s.handedOver = false
			if t.fw == nil {
				runtime.Gosched()
			}
		}
	}
}

// stop finishes the transport after the reader failed; on a goroutine of its own when
// the reader may run on one of the transport's (a ReadWaiter's f: SockJS runs it on the
// goroutine of an xhr_send, which answers when it returns), as finish waits for the
// writer and the close.
func (t *served) stop(err error) {
	if t.rw != nil {
		go t.finish(err)
		return
	}
	t.finish(err)
}

// readError is why the transport ends after a failed read.
func (t *served) readError(err error) error {
	if t.tctx.Err() != nil {
		return context.Cause(t.tctx)
	}
	switch ce := events.Cause(err); ce.Code {
	case events.CloseTooBig, events.CloseInvalidPayload, events.CloseUnsupportedData, events.CloseProtocolError:
		return ce // the peer broke a rule: no resume
	case events.CloseGoingAway:
		if !t.s.cfg.Passive && t.conn.Name() == transport.WebSocket {
			// A page that unloads (closed, navigated away, or reloading): kept only long
			// enough for a reload to resume it.
			return &dropError{ce: ce, grace: t.s.cfg.GoingAwayGrace}
		}
		return &dropError{ce: ce}
	default:
		return &dropError{ce: ce}
	}
}

// splitLines appends the lines of frame to dst as [events.Lines] splits them, but keeps
// the empty ones: each costs the peer one message of its rate, and an empty frame is one
// empty line.
func splitLines(dst [][]byte, frame []byte) [][]byte {
	if len(frame) == 0 {
		return append(dst, frame)
	}
	for len(frame) > 0 {
		line, rest, _ := bytes.Cut(frame, []byte{'\n'})
		frame = rest
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		dst = append(dst, line)
	}
	return dst
}

// handleFrame handles the messages of one frame. It decodes every line and charges the
// frame to the message rate before it acts on any, so that a frame is taken whole or not
// at all: a malformed line (1002) or a frame past the rate's tolerance (1008) ends the
// session with none of the frame's messages counted or handled. Otherwise every message
// is acted on, in order; an event over the rate is counted and refused.
func (s *Session) handleFrame(tctx context.Context, lines [][]byte, yield func()) error {
	msgs := s.msgs[:0]
	defer func() {
		clear(msgs) // let the GC have the messages' data
		if cap(msgs) > keepMessages {
			msgs = nil
		}
		s.msgs = msgs[:0]
	}()
	for _, l := range lines {
		yield()
		if len(l) == 0 {
			msgs = append(msgs, inMessage{})
			continue
		}
		m, err := events.Decode(l)
		if err == nil && (m.T == events.TypeHello || m.T == events.TypeWelcome) {
			err = errors.New("unexpected " + m.T)
		}
		if err != nil {
			s.log.Warn("bad message", "err", err)
			return &events.CloseError{Code: events.CloseProtocolError, Reason: err.Error()}
		}
		msgs = append(msgs, inMessage{Message: m})
	}
	return s.handleMessages(tctx, msgs, yield)
}

// handleBinary handles a binary frame: one ev or ack message (PROTOCOL.md §2).
func (s *Session) handleBinary(tctx context.Context, frame []byte, yield func()) error {
	m, err := events.DecodeBinary(frame)
	if err != nil {
		s.log.Warn("bad binary message", "err", err)
		return &events.CloseError{Code: events.CloseProtocolError, Reason: err.Error()}
	}
	msgs := append(s.msgs[:0], inMessage{Message: m})
	defer func() {
		clear(msgs)
		s.msgs = msgs[:0]
	}()
	return s.handleMessages(tctx, msgs, yield)
}

// handleMessages charges the decoded messages of a frame to the rate and acts on them.
func (s *Session) handleMessages(tctx context.Context, msgs []inMessage, yield func()) error {
	if s.cfg.RateLimit > 0 {
		if err := s.charge(msgs); err != nil {
			return err
		}
	}
	for i := range msgs {
		yield()
		if err := s.handleMessage(tctx, &msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// The message rate (Config.RateLimit and RateBurst, PROTOCOL.md §4, SECURITY.md).
//
// Every line a peer sends costs it one message, empty lines and empty frames included,
// except the ones the server asked for: an ack that completes a request still pending, and
// a pong that answers one of our pings or acknowledges counted messages it had not
// acknowledged before (an r above the last one, up to what we wrote). Those are bounded by
// what the server sends, so a peer cannot make up free ones; charging them would close a
// client for keeping up with a server that talks a lot (the pong a client owes for every
// 32 broadcasts, or its replies to the server's own requests, are not its choice).
//
// Two token buckets refill at RateLimit per second. tokens, at most RateBurst, decides
// whether a message is served: without one an event is refused with "rate_limited" (still
// counted) and a ping goes unanswered. credit, at most twice RateBurst, is charged for
// every message, refused ones too, and decides when the peer is closed with 1008: when a
// frame would overdraw it. So a burst of RateBurst is served, a burst of up to twice that
// is partly refused but tolerated, a peer at or under the rate never loses credit, and a
// peer that keeps sending faster than the rate, by any margin, is closed once it sent one
// more burst than the rate allows past its own: at twice the rate, RateBurst/RateLimit
// seconds (2 s by default) after its burst ran out; at fifty times the rate, 80 ms after
// it began. The rule it replaces (close after twice the burst of refusals in a row) let a
// steady flood at twice the rate go on forever: every message served reset the count. A
// sliding window of refusals would need a threshold below what the window refuses at the
// slowest flood it must catch, and memory for the window; the second bucket needs
// neither and closes every flood, however slight, in a time proportional to its excess.
//
// charge charges the frame msgs and marks the messages refused. It returns a 1008
// CloseError, and charges nothing, when the frame overdraws the credit.
func (s *Session) charge(msgs []inMessage) error {
	now := time.Now()
	burst := float64(s.cfg.RateBurst)
	if s.refill.IsZero() {
		s.tokens, s.credit, s.refill = burst, 2*burst, now
	}
	refill := now.Sub(s.refill).Seconds() * s.cfg.RateLimit
	s.tokens = min(burst, s.tokens+refill)
	s.credit = min(2*burst, s.credit+refill)
	s.refill = now
	tokens, credit := s.tokens, s.credit
	refused := 0
	clear(s.freeAcks)
	for i := range msgs {
		m := &msgs[i]
		if m.T == events.TypeClose {
			break // the last message the peer sends
		}
		if s.free(&m.Message) {
			continue
		}
		if credit < 1 {
			s.log.Warn("rate limit exceeded", "credit", s.credit, "messages", len(msgs))
			return &events.CloseError{Code: events.ClosePolicyViolation, Reason: "rate limit exceeded"}
		}
		credit--
		if tokens < 1 {
			m.refused = true
			refused++
			continue
		}
		tokens--
	}
	s.tokens, s.credit = tokens, credit
	if refused > 0 {
		s.meter.RateLimited(refused)
	}
	return nil
}

// free reports whether m is a message the server asked for, not charged to the rate
// (see charge), and takes note of it.
func (s *Session) free(m *events.Message) bool {
	switch m.T {
	case events.TypePong:
		if m.R > s.peerSeq && m.R <= s.outSeq.Load() {
			s.peerSeq = m.R // acknowledges messages not acknowledged before
			return true
		}
		if s.answered < s.pings.Load() {
			s.answered++ // answers a ping
			return true
		}
	case events.TypeAck:
		if _, seen := s.freeAcks[m.ID]; seen || !s.isPending(m.ID) {
			return false
		}
		if s.freeAcks == nil {
			s.freeAcks = make(map[uint64]struct{})
		}
		s.freeAcks[m.ID] = struct{}{}
		return true
	}
	return false
}

// handleMessage acts on one message of a frame.
func (s *Session) handleMessage(tctx context.Context, im *inMessage) error {
	switch im.T {
	case "": // an empty line
		return nil
	case events.TypePing:
		if im.refused {
			return nil
		}
		if im.R > 0 {
			s.trim(im.R)
		}
		if im.Ping != 0 && !s.cfg.Passive { // the peer asks for another heartbeat interval
			d := s.SetPingInterval(time.Duration(im.Ping) * time.Millisecond)
			return s.ignoreClosed(s.SendControl(events.AppendPingInterval(events.AppendPing(nil, true, s.AckSeq()), d.Milliseconds())))
		}
		return s.ignoreClosed(s.SendControl(events.AppendPing(nil, true, s.AckSeq())))
	case events.TypePong:
		if im.R > 0 {
			s.trim(im.R)
		}
		if im.Ping > 0 && s.cfg.Passive { // the interval the server took, asked for in a ping
			s.SetPingInterval(time.Duration(im.Ping) * time.Millisecond)
		}
		return nil
	case events.TypeAck:
		s.inSeq.Add(1)
		m := im.Message // the requester keeps it
		s.complete(&m)
		return nil
	case events.TypeEvent:
		if im.refused {
			s.inSeq.Add(1) // received and counted, though not handled
			if im.ID != 0 {
				// Sent now, not held as a handler's reply would be.
				return s.ignoreClosed(s.Send(events.AppendAck(nil, im.ID, nil, &events.ErrorBody{Code: "rate_limited", Message: "too many messages, slow down"}), true))
			}
			return nil
		}
		return s.queueEvent(tctx, queuedMessage(&im.Message))
	case events.TypeClose:
		code := im.Code
		if code == 0 {
			code = events.CloseNormal
		}
		if code == events.CloseGoingAway && !s.cfg.Passive {
			// A page that unloads (closed, navigated away, or reloading) said so: the
			// session waits for a resume only GoingAwayGrace.
			return &dropError{ce: &events.CloseError{Code: code, Reason: im.Reason}, grace: s.cfg.GoingAwayGrace}
		}
		return &events.CloseError{Code: code, Reason: im.Reason}
	default: // decoding let no other type through
		return &events.CloseError{Code: events.CloseProtocolError, Reason: "unexpected " + im.T}
	}
}

// queueEvent hands m to the dispatcher, waiting while MaxQueuedEvents wait already. An
// event is counted once handed over: one lost with its transport before that is not
// acknowledged, so the peer sends it again after a resume.
func (s *Session) queueEvent(tctx context.Context, m *events.Message) error {
	if s.evq == nil { // made by the first event: a session that never gets one has none
		s.evq = make(chan *events.Message, s.cfg.MaxQueuedEvents)
	}
	select {
	case s.evq <- m:
	default:
		if err := s.queueFull(tctx, m); err != nil {
			return err
		}
	}
	s.inSeq.Add(1)
	s.wakeDispatcher()
	s.handedOver = true
	return nil
}

// queueFull waits until m is queued, the queue being full, or the transport ends. The
// writer sees the reader blocked meanwhile (the peer is not silent, we are not reading).
func (s *Session) queueFull(tctx context.Context, m *events.Message) error {
	s.readerBlocked.Store(true)
	defer func() {
		s.lastRead.Store(time.Now().UnixNano())
		s.readerBlocked.Store(false)
	}()
	select {
	case s.evq <- m:
		return nil
	case <-tctx.Done():
		return context.Cause(tctx)
	}
}

func (s *Session) ignoreClosed(err error) error {
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
