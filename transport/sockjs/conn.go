package sockjs

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sj "github.com/igm/sockjs-go/v3/sockjs"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// Conn is one SockJS session seen as a transport connection; it implements
// [transport.Conn].
type Conn struct {
	transport.Peer
	s       sj.Session         // set once before started is closed
	key     keySum             // hash of the session's key (key.go); set before the Conn is shared
	started chan struct{}      // closed when sockjs-go started the session
	ctx     context.Context    // cancelled when the session ends
	cancel  context.CancelFunc //

	mu        sync.Mutex
	name      string        // transport of the latest receiving request; guarded by mu
	receivers int           // receiving requests in flight; guarded by mu
	ready     chan struct{} // closed while receivers > 0; guarded by mu
	parked    bool          // a frame was handed to sockjs-go with no receiving request since; guarded by mu
	completed uint64        // receiving requests that ended; guarded by mu
	ended     chan struct{} // closed at the next end of a receiving request; guarded by mu
	finalSent bool          // WriteFinal ran; guarded by mu
	finalAt   uint64        // completed when it did; guarded by mu
	lastSend  uint64        // highest xhr_send number seen (?s=N), to drop retried POSTs; guarded by mu
	sendTurn  chan struct{} // cap 1: held by the xhr_send in flight, from its body's first byte to its frames' hand-over
	sendNext  chan struct{} // cap 1: held by the xhr_send waiting for sendTurn
	lastPoll  uint64        // highest receiving request number seen (?p=N); guarded by mu

	// Frames from xhr_send to the session's reader (ReadFrame): the frames of the body in
	// flight that are not read yet, closed when they all are, the reader waiting for the
	// next body (WaitRead), and a ReadFrame blocked for it.
	pending [][]byte      // guarded by mu
	taken   chan struct{} // guarded by mu
	waiter  func()        // guarded by mu
	arrived chan struct{} // guarded by mu

	closeOnce  sync.Once
	closeCause atomic.Pointer[events.CloseError] // why the guard closed it, for ReadFrame
}

var (
	_ transport.Conn        = (*Conn)(nil)
	_ transport.FinalWriter = (*Conn)(nil)
	_ transport.ReadWaiter  = (*Conn)(nil)
)

// Name reports the receiving transport the session uses now.
func (c *Conn) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// retried reports whether r repeats a receiving request number (?p=N) already seen.
func (c *Conn) retried(r *http.Request) bool {
	n := queryUint(r, "p")
	if n == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= c.lastPoll {
		return true
	}
	c.lastPoll = n
	return false
}

func (c *Conn) isStarted() bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

// alone reports whether one receiving request of c is in flight (the caller's).
func (c *Conn) alone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.receivers == 1
}

func (c *Conn) attach(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.name = name
	c.receivers++
	c.parked = false // this request takes what sockjs-go keeps
	if c.receivers == 1 {
		close(c.ready)
	}
}

func (c *Conn) detach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receivers--
	if c.receivers == 0 {
		c.ready = make(chan struct{})
	}
	c.completed++
	if c.ended != nil {
		close(c.ended)
		c.ended = nil
	}
}

// ReadFrame returns the next frame from xhr_send.
func (c *Conn) ReadFrame() ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.pending) > 0 {
			f := c.pending[0]
			c.pending[0] = nil
			c.pending = c.pending[1:]
			if len(c.pending) == 0 {
				c.pending = nil
				close(c.taken)
			}
			c.mu.Unlock()
			return f, nil
		}
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			if ce := c.closeCause.Load(); ce != nil {
				return nil, ce
			}
			return nil, transport.ErrClosed
		}
		if c.arrived == nil {
			c.arrived = make(chan struct{})
		}
		arrived := c.arrived
		c.mu.Unlock()
		select {
		case <-arrived:
		case <-c.ctx.Done():
		}
	}
}

// WaitRead arranges for f to be called when the next xhr_send body arrives, or the
// session ends (see [transport.ReadWaiter]): a SockJS session holds no reader goroutine
// between bodies. f runs on the goroutine of the xhr_send that brought the body, which
// answers once the body's frames are read: the hand-over then costs no goroutine switch.
func (c *Conn) WaitRead(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 || c.ctx.Err() != nil {
		return false
	}
	c.waiter = f
	return true
}

// deliver hands the frames of an xhr_send body to the session's reader, running it on
// the caller's goroutine if it waits, and returns once they are all read, or false when
// the session ended first (the frames not read are not counted as received: the client
// sends them again after a resume). Only the xhr_send in flight calls it.
func (c *Conn) deliver(frames [][]byte) bool {
	if len(frames) == 0 {
		return true
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return false
	}
	taken := make(chan struct{})
	c.pending, c.taken = frames, taken
	w := c.waiter
	c.waiter = nil
	if c.arrived != nil {
		close(c.arrived)
		c.arrived = nil
	}
	c.mu.Unlock()
	if w != nil {
		w()
	}
	select {
	case <-taken:
		return true
	case <-c.ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case <-taken: // read just before the end
			return true
		default:
			c.pending = nil // the rest is not read after the answer said so
			return false
		}
	}
}

// end cancels c's context and calls the reader waiting for frames, if any, so that it
// sees the end.
func (c *Conn) end() {
	c.cancel()
	c.mu.Lock()
	w := c.waiter
	c.waiter = nil
	c.mu.Unlock()
	if w != nil {
		go w()
	}
}

// WriteFrame hands msgs, joined by '\n', to the session as one SockJS message. While no
// receiving request (a stream or a poll) is there to carry it, one frame is handed over
// anyway: sockjs-go keeps it, and the next poll takes it and is answered at once, on its
// own goroutine, rather than waiting for sockhop's writer. Any later frame waits for a
// receiving request: sockjs-go would buffer without bound for a client that stops polling,
// while sockhop's own queue is bounded and closes such a session as a slow consumer. So
// sockjs-go holds only the frame handed ahead, and what the writer wrote in the moment
// between sockjs-go answering a poll and that poll's end reaching detach (as before).
func (c *Conn) WriteFrame(msgs [][]byte) error {
	c.mu.Lock()
	ready := c.ready
	park := c.receivers == 0 && !c.parked && c.ctx.Err() == nil
	if park {
		c.parked = true
	}
	c.mu.Unlock()
	if !park {
		select {
		case <-ready:
		case <-c.ctx.Done():
			return transport.ErrClosed
		}
	}
	return c.write(msgs)
}

// Writable reports whether WriteFrame would hand a frame over now: a receiving request is
// there, or none is and no frame was handed ahead of one.
func (c *Conn) Writable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.receivers > 0 || !c.parked
}

// WriteFinal is WriteFrame for a session's last frame: it waits for a receiving request
// at most finalWait (sockjs-go drops what it buffered when the session closes), so a
// client that stopped polling does not hold up a Shutdown.
func (c *Conn) WriteFinal(msgs [][]byte) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	t := time.NewTimer(finalWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-c.ctx.Done():
		return transport.ErrClosed
	}
	c.mu.Lock()
	c.finalAt, c.finalSent = c.completed, true
	c.mu.Unlock()
	return c.write(msgs)
}

// awaitFinal waits, at most finalWait, until a poll has carried the final frame away:
// sockjs-go drops what it still buffers when the session closes.
func (c *Conn) awaitFinal() {
	t := time.NewTimer(finalWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		if !c.finalSent || c.name != transport.XHRPolling || c.completed > c.finalAt {
			c.mu.Unlock()
			return
		}
		if c.ended == nil {
			c.ended = make(chan struct{})
		}
		ended := c.ended
		c.mu.Unlock()
		select {
		case <-ended:
		case <-t.C:
			return
		}
	}
}

// finalWait bounds how long a session's close message waits for the client's next poll.
const finalWait = time.Second

// write hands msgs, joined by '\n', to sockjs-go as one SockJS message.
func (c *Conn) write(msgs [][]byte) error {
	var b strings.Builder
	n := len(msgs)
	for _, m := range msgs {
		n += len(m)
	}
	b.Grow(n)
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(m)
	}
	return c.s.Send(b.String())
}

// Close closes the SockJS session with a c[code,reason] frame.
func (c *Conn) Close(code int, reason string) error {
	err := transport.ErrClosed
	c.closeOnce.Do(func() {
		switch code {
		case events.CloseTooBig, events.CloseInvalidPayload, events.CloseProtocolError:
			c.closeCause.Store(&events.CloseError{Code: code, Reason: reason})
		}
		c.end() // first: frees a reader and a writer waiting on us at once
		c.awaitFinal()
		err = c.s.Close(uint32(code), reason)
	})
	return err
}
