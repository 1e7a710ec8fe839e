package session

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// reportEvery is how many received counted messages make the writer acknowledge them
// with what it writes next, without waiting for the next ping; reportLate is how many
// make the reader wake it for that alone. A request's reply thus carries the report in its
// frame, where one written at once by itself cost a system call for every 32 requests.
const (
	reportEvery = 32
	reportLate  = 2 * reportEvery
)

// jitter returns d less up to 10%, so that sessions opened together do not ping together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/10+1))
}

// startHeartbeat arms the ping timer: a ping every PingInterval (jittered), and a drop
// when none of the peer's frames came within PongTimeout of the oldest unanswered ping.
// Passive (a client): a drop when nothing came within PingInterval plus PongTimeout.
func (t *served) startHeartbeat() {
	d := jitter(t.s.PingInterval())
	if t.s.cfg.Passive {
		d = t.idleLimit()
	}
	t.hmu.Lock()
	defer t.hmu.Unlock()
	t.ping = time.AfterFunc(d, t.onPing)
}

func (t *served) stopHeartbeat() {
	if t.lt != nil { // no writer runs any more
		t.lt.Stop()
	}
	t.hmu.Lock()
	defer t.hmu.Unlock()
	t.ping.Stop()
	if t.pong != nil {
		t.pong.Stop()
	}
}

func (t *served) idleLimit() time.Duration { return t.s.PingInterval() + t.s.cfg.PongTimeout }

func (t *served) onPing() {
	s := t.s
	if t.tctx.Err() != nil {
		return
	}
	if s.ctx.Err() != nil { // ended by New's parent (see Session.cancel)
		t.cancel(context.Cause(s.ctx))
		return
	}
	if s.cfg.Passive {
		idle := time.Duration(time.Now().UnixNano() - s.lastRead.Load())
		if idle >= t.idleLimit() && !s.readerBlocked.Load() {
			s.log.Info("heartbeat timeout")
			s.dropTransport(t.tctx, events.CloseHeartbeatTimeout, "heartbeat timeout")
			return
		}
		t.hmu.Lock()
		t.ping.Reset(max(t.idleLimit()-idle, time.Millisecond))
		t.hmu.Unlock()
		return
	}
	in := s.AckSeq()
	s.reported.Store(in)
	if s.SendControl(events.AppendPing(nil, false, in)) == nil {
		s.pings.Add(1) // the peer's answer is not charged to its message rate
	}
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if t.tctx.Err() != nil {
		return
	}
	if !t.pongArmed { // the oldest unanswered ping decides
		t.pingSent = time.Now().UnixNano()
		if t.pong == nil {
			t.pong = time.AfterFunc(s.cfg.PongTimeout, t.onPong)
		} else {
			t.pong.Reset(s.cfg.PongTimeout)
		}
		t.pongArmed = true
	}
	t.ping.Reset(jitter(s.PingInterval()))
}

func (t *served) onPong() {
	s := t.s
	t.hmu.Lock()
	t.pongArmed = false
	sent := t.pingSent
	t.hmu.Unlock()
	if t.tctx.Err() == nil && s.lastRead.Load() < sent && !s.readerBlocked.Load() {
		s.log.Info("heartbeat timeout")
		s.dropTransport(t.tctx, events.CloseHeartbeatTimeout, "heartbeat timeout")
	}
}

// signal wakes the writer of the transport served, if any.
func (s *Session) signal() {
	if t := s.cur.Load(); t != nil {
		t.kick()
	}
}

// kick starts the writer unless it runs; a running one is told to look again, a
// lingering one is woken.
func (t *served) kick() {
	for {
		switch t.wstate.Load() {
		case wRunning:
			if t.wstate.CompareAndSwap(wRunning, wPending) {
				return
			}
		case wLinger:
			if t.wstate.CompareAndSwap(wLinger, wRunning) {
				t.wake <- struct{}{} // cap 1, and only the kick that moved it sends
				return
			}
		case wIdle:
			if t.takeWriter(false) >= 0 {
				go t.write()
				return
			}
		default: // pending, or stopped
			return
		}
	}
}

// writeHere runs the writer on the caller's goroutine for what is queued, if no writer
// runs (or, with steal, none but one that lingers), and reports whether it did. It never
// lingers itself: it gives the writer back (release). Two callers: the transport's first
// writer (it writes the welcome, and a new session is silent until its client has read
// that), and the dispatcher after a handler replied (Session.flushReplies).
func (t *served) writeHere(steal bool) bool {
	from := t.takeWriter(steal)
	if from < 0 {
		return false
	}
	if _, ok := t.writeQueued(); ok {
		t.release(from)
	} else {
		t.writers.Done()
	}
	return true
}

// takeWriter moves the writer from idle (or, with steal, from lingering) to running and
// counts it, under wmu where finish stops it, and returns the state it took it from, or
// -1 when it did not: the caller then runs the writer. A lingering writer's goroutine
// keeps waiting meanwhile and touches only its timer (lt, wrote), which no other writer
// does.
func (t *served) takeWriter(steal bool) int32 {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	from := wIdle
	if !t.wstate.CompareAndSwap(wIdle, wRunning) {
		if !steal || !t.wstate.CompareAndSwap(wLinger, wRunning) {
			return -1
		}
		from = wLinger
	}
	t.writers.Add(1)
	return from
}

// release gives the writer back after writeHere: as it was (idle, or to the goroutine
// that lingers), or, when more was queued meanwhile, to a goroutine, woken (the lingering
// one) or new.
func (t *served) release(from int32) {
	for {
		if t.wstate.CompareAndSwap(wRunning, from) {
			t.writers.Done()
			return
		}
		if t.wstate.CompareAndSwap(wPending, wRunning) {
			if from == wLinger {
				t.wake <- struct{}{} // as kick does
				t.writers.Done()
			} else {
				go t.write() // it takes this writer's count over
			}
			return
		}
		if t.wstate.Load() == wStopped {
			t.writers.Done()
			return
		}
	}
}

// writeLinger is how long a writer whose queue is empty waits for more before it ends
// (between one and two of it): a busy session keeps its writer (and its grown stack)
// instead of starting one per message.
const writeLinger = 100 * time.Millisecond

// linger waits for a kick, and reports whether one came (the writer runs on) or not (the
// writer ends: it is idle, or the transport ended). Its timer is reset once per
// writeLinger, not once per wait: a writer that wrote since the last tick waits another.
func (t *served) linger() bool {
	if t.lt == nil {
		t.lt = time.NewTimer(writeLinger)
		t.wrote = false
	}
	for {
		select {
		case <-t.wake:
			return true
		case <-t.tctx.Done():
			return false
		case <-t.lt.C:
			if t.wrote {
				t.wrote = false
				t.lt.Reset(writeLinger)
				continue
			}
			lt := t.lt
			t.lt = nil // an idle session keeps no timer (the next writer makes one)
			if t.wstate.CompareAndSwap(wLinger, wIdle) || t.wstate.Load() == wStopped {
				return false
			}
			// A kick moved it to running just now, and sends; or writeHere took it for a
			// moment, and gives it back or sends.
			t.lt = lt
			lt.Reset(writeLinger)
		}
	}
}

// write is the writer's goroutine: it writes what is queued until the queue stays empty
// for writeLinger, or the transport ends.
func (t *served) write() {
	defer t.writers.Done()
	for {
		wrote, ok := t.writeQueued()
		if !ok {
			return
		}
		t.wrote = t.wrote || wrote
		if !t.next() {
			return
		}
	}
}

// writeQueued takes what is queued and writes it, coalesced into frames, and reports
// whether it wrote anything, and whether the writer goes on (not when the transport has
// ended, a write failed or the session closes). Only the writer, on whichever goroutine
// holds it, calls it.
func (t *served) writeQueued() (wrote, ok bool) {
	s := t.s
	if t.tctx.Err() != nil {
		return false, false
	}
	batch := t.spare
	s.mu.Lock()
	batch, s.queue = s.queue, batch[:0]
	s.queued = 0
	closing := s.closing
	s.mu.Unlock()
	if in := s.AckSeq(); s.cfg.ResumeBytes >= 0 && in >= s.reported.Load()+reportEvery {
		s.reported.Store(in)
		batch = append(batch, item{b: events.AppendPing(nil, true, in), control: true})
	}
	if len(batch) > 0 {
		if err := s.writeBatch(t.conn, batch); err != nil {
			if ce := events.CloseCode(err); ce != 0 && !events.Reconnect(ce) {
				// The peer refused what was written (an xhr_send answered 413 or 400): as
				// if it had closed with that code; no resume would help.
				s.log.Info("write refused", "err", err)
				s.cancel(events.Cause(err))
				return false, false
			}
			s.log.Info("write failed", "err", err)
			s.dropTransport(t.tctx, events.CloseAbnormal, "write failed")
			return false, false
		}
		wrote = true
		clear(batch) // let the GC have the messages
		if cap(batch) > 4096 {
			batch, s.frame = nil, nil
		}
	}
	if closing != nil {
		s.cancel(closing) // the closer goroutine closes conn with it
		return wrote, false
	}
	t.spare = batch[:0] // before the next writer may start
	return wrote, true
}

// next reports whether the writer's goroutine goes on: something was queued meanwhile,
// or came while it lingered.
func (t *served) next() bool {
	for {
		if t.wstate.CompareAndSwap(wPending, wRunning) {
			return true
		}
		if t.wstate.CompareAndSwap(wRunning, wLinger) {
			return t.linger()
		}
		if t.wstate.Load() == wStopped {
			return false
		}
	}
}

// writeBatch numbers the counted messages of a batch, retains them for a resume, and
// writes them in as few frames as MaxFrameBytes allows.
func (s *Session) writeBatch(conn transport.Conn, batch []item) error {
	numbered := false
	for i := range batch {
		if batch[i].counted && batch[i].seq == 0 {
			batch[i].seq = s.outSeq.Add(1)
		}
		numbered = numbered || batch[i].seq != 0
	}
	if numbered {
		s.retain(batch) // before the write: a failed write may still have delivered them
	}
	write := conn.WriteFrame
	if fw, ok := conn.(transport.FinalWriter); ok && batch[len(batch)-1].closeMsg {
		write = fw.WriteFinal // the goodbye does not wait for the peer's flow control
	}
	// Binary messages (events/binary.go) go as binary frames of their own to a peer that
	// reads them on a transport that carries them, and in a text form otherwise.
	bf, _ := conn.(transport.BinaryFramer)
	peerBin := transport.PeerBinary(conn)
	field := "d" // what a peer that never heard of binary messages reads
	if peerBin {
		field = "b"
	}
	for len(batch) > 0 {
		if b := batch[0].b; bf != nil && peerBin && events.IsBinary(b) {
			if err := bf.WriteBinary(b); err != nil {
				return err
			}
			s.meter.Sent(1, len(b))
			batch = batch[1:]
			continue
		}
		msgs := s.frame[:0]
		size := 0
		n := 0
		for n < len(batch) && (n == 0 || size+1+len(batch[n].b) <= s.cfg.MaxFrameBytes) {
			b := batch[n].b
			if events.IsBinary(b) {
				if bf != nil && peerBin {
					break // a binary frame of its own, next
				}
				b = events.TextForm(b, field)
			}
			size += 1 + len(b)
			msgs = append(msgs, b)
			n++
		}
		err := write(msgs)
		if err == nil {
			s.meter.Sent(n, size)
		}
		clear(msgs)
		s.frame = msgs
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}
