package session

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// reportEvery is how many received counted messages make the writer acknowledge them
// without waiting for the next ping.
const reportEvery = 32

// jitter returns d less up to 10%, so that sessions opened together do not ping together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/10+1))
}

// writeLoop is the writer: the only goroutine that writes to conn. It owns the heartbeat
// timers and coalesces what is queued into frames.
func (s *Session) writeLoop(tctx context.Context, conn transport.Conn) {
	ping := time.NewTimer(jitter(s.PingInterval()))
	defer ping.Stop()
	idleLimit := func() time.Duration { return s.PingInterval() + s.cfg.PongTimeout }
	if s.cfg.Passive {
		ping.Reset(idleLimit())
	}
	pong := time.NewTimer(time.Hour)
	pong.Stop()
	defer pong.Stop()
	var pingSent int64
	pongArmed := false
	var batch []item
	for {
		select {
		case <-s.wake:
		case <-ping.C:
			if s.cfg.Passive {
				idle := time.Duration(time.Now().UnixNano() - s.lastRead.Load())
				if idle >= idleLimit() && !s.readerBlocked.Load() {
					s.log.Info("heartbeat timeout")
					s.dropTransport(tctx, events.CloseHeartbeatTimeout, "heartbeat timeout")
				} else {
					ping.Reset(max(idleLimit()-idle, time.Millisecond))
				}
				continue
			}
			in := s.AckSeq()
			s.reported.Store(in)
			if s.SendControl(events.AppendPing(nil, false, in)) == nil {
				s.pings.Add(1) // the peer's answer is not charged to its message rate
			}
			if !pongArmed { // the oldest unanswered ping decides
				pingSent = time.Now().UnixNano()
				pong.Reset(s.cfg.PongTimeout)
				pongArmed = true
			}
			ping.Reset(jitter(s.PingInterval()))
			continue // the wake-up follows
		case <-pong.C:
			pongArmed = false
			if s.lastRead.Load() < pingSent && !s.readerBlocked.Load() {
				s.log.Info("heartbeat timeout")
				s.dropTransport(tctx, events.CloseHeartbeatTimeout, "heartbeat timeout")
			}
			continue
		case <-tctx.Done():
			return
		}
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
			if err := s.writeBatch(conn, batch); err != nil {
				if ce := events.CloseCode(err); ce != 0 && !events.Reconnect(ce) {
					// The peer refused what was written (an xhr_send answered 413 or 400): as
					// if it had closed with that code; no resume would help.
					s.log.Info("write refused", "err", err)
					s.cancel(events.Cause(err))
					return
				}
				s.log.Info("write failed", "err", err)
				s.dropTransport(tctx, events.CloseAbnormal, "write failed")
				return
			}
			clear(batch) // let the GC have the messages
			if cap(batch) > 4096 {
				batch, s.frame = nil, nil
			}
		}
		if closing != nil {
			s.cancel(closing) // the closer goroutine closes conn with it
			return
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
