package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// Config holds a session's limits and timings. Zero fields take the defaults named.
type Config struct {
	// PingInterval is the time between pings. Zero means 25s.
	PingInterval time.Duration
	// PongTimeout is how long after a ping the peer has to send any frame. Zero means 20s.
	PongTimeout time.Duration
	// MaxQueueBytes bounds the send queue. Zero means 1 MiB.
	MaxQueueBytes int
	// AckTimeout bounds Request when the context has no earlier deadline. Zero means 10s.
	AckTimeout time.Duration
	// MaxPendingAcks bounds unanswered Requests. Zero means 1024.
	MaxPendingAcks int
	// MaxQueuedEvents bounds events waiting for the dispatcher; past it the reader waits.
	// Zero means 16.
	MaxQueuedEvents int
	// MaxFrameBytes bounds the frames the writer coalesces: queued messages are split into
	// frames of at most this many bytes (a single larger message goes alone). The client
	// sets it to the server's max. Zero means 64 KiB.
	MaxFrameBytes int
	// ResumeBytes bounds the written messages kept until the peer acknowledges them, so
	// that a session whose transport dropped can resume with nothing lost. Zero means
	// 1 MiB. Negative turns resume off: a dropped transport ends the session.
	ResumeBytes int
	// RateLimit is how many messages per second the peer may send on average, and
	// RateBurst how many at once. Past it events are refused (an error ack "rate_limited"
	// when the peer asked for one) and pings go unanswered; a peer that keeps going past
	// twice the burst of refusals is closed with 1008. Zero RateLimit means no limit.
	RateLimit float64
	RateBurst int
	// Passive is for the client end: it sends no pings, answers the peer's, and ends the
	// session with 4001 when no frame arrived for PingInterval+PongTimeout.
	Passive bool
	// Logger receives the session's log lines. Nil means silent.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = 20 * time.Second
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 1 << 20
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.MaxPendingAcks <= 0 {
		c.MaxPendingAcks = 1024
	}
	if c.RateLimit > 0 && c.RateBurst <= 0 {
		c.RateBurst = max(1, int(2*c.RateLimit))
	}
	if c.MaxQueuedEvents <= 0 {
		c.MaxQueuedEvents = 16
	}
	if c.ResumeBytes == 0 {
		c.ResumeBytes = 1 << 20
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Handler receives a session's events.
type Handler interface {
	// HandleEvent is called on the session's dispatcher goroutine, one event at a time, in
	// the order the peer sent them. ctx is the session's context. A panic is recovered and
	// closes the session with 1011.
	HandleEvent(ctx context.Context, m *events.Message)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, m *events.Message)

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, m *events.Message) { f(ctx, m) }

// Errors returned by a Session.
var (
	ErrClosed       = errors.New("sockhop: session closed")
	ErrSlowConsumer = errors.New("sockhop: slow consumer: send queue full")
	ErrAckTimeout   = errors.New("sockhop: ack timeout")
	ErrTooManyAcks  = errors.New("sockhop: too many pending acks")
)

// overheadBytes is what one queued message costs beyond its bytes, for the queue bound.
const overheadBytes = 32

type item struct {
	b       []byte
	counted bool   // an ev or ack: counted by sequence numbers
	control bool   // ping, pong, welcome, close: exempt from the byte bound
	seq     uint64 // the sequence number, once written (0 = not yet)

	closeMsg bool // the close message of a graceful Close
}

// reportEvery is how many received counted messages make the writer acknowledge them
// without waiting for the next ping.
const reportEvery = 32

// dropError is the cause of a transport that dropped (a network error, a heartbeat
// timeout, a write failure, a newer transport taking over): the session may resume.
type dropError struct{ ce *events.CloseError }

func (d *dropError) Error() string { return d.ce.Error() }
func (d *dropError) Unwrap() error { return d.ce }

// Dropped reports whether err (from Serve) means the transport dropped and the session
// lives on, waiting for a resume.
func Dropped(err error) bool {
	var d *dropError
	return errors.As(err, &d)
}

// Session is one logical session. Create it with [New], serve a transport with
// [Session.Serve].
type Session struct {
	id  string
	cfg Config
	h   Handler
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	queue   []item             // guarded by mu; any goroutine -> writer
	queued  int                // bytes in queue, guarded by mu
	closing *events.CloseError // graceful close requested; guarded by mu
	wake    chan struct{}      // cap 1: the queue has news for the writer

	lastRead      atomic.Int64  // unix nanos of the last frame read; reader -> writer
	readerBlocked atomic.Bool   // the reader waits for the dispatcher, so it cannot read
	inSeq         atomic.Uint64 // counted messages received; owned by reader
	outSeq        atomic.Uint64 // counted messages written; owned by writer

	evq         chan *events.Message // reader -> dispatcher
	dispatching atomic.Bool          // a dispatcher goroutine runs; it exits when evq is empty
	idleHook    func()               // tests: runs when a dispatcher found evq empty

	tmu     sync.Mutex
	tcancel context.CancelCauseFunc // ends the transport being served; nil while none is; guarded by tmu
	dropped bool                    // the last transport dropped and none serves yet; guarded by tmu

	retained      []item        // written counted messages not yet acknowledged, by seq; guarded by mu
	retainedBytes int           // guarded by mu
	lost          bool          // retained overflowed, so a resume from before it is impossible; guarded by mu
	reported      atomic.Uint64 // inSeq last acknowledged to the peer; writer -> reader

	frame [][]byte // the frame being written; owned by writer

	tokens  float64   // rate limit bucket; owned by reader
	refill  time.Time // owned by reader
	refused int       // messages refused since the last one allowed; owned by reader

	ackMu   sync.Mutex
	nextID  uint64
	pending map[uint64]chan *events.Message // guarded by ackMu
}

// New returns a session with id whose context derives from parent. h handles its events.
func New(parent context.Context, id string, cfg Config, h Handler) *Session {
	cfg.setDefaults()
	ctx, cancel := context.WithCancelCause(parent)
	return &Session{
		id:      id,
		cfg:     cfg,
		h:       h,
		log:     cfg.Logger,
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		evq:     make(chan *events.Message, cfg.MaxQueuedEvents),
		pending: make(map[uint64]chan *events.Message),
	}
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Context is cancelled when the session ends; its cause ([context.Cause]) is a
// *events.CloseError saying why.
func (s *Session) Context() context.Context { return s.ctx }

// Err returns why the session ended (a *events.CloseError), or nil while it runs.
func (s *Session) Err() error {
	if s.ctx.Err() == nil {
		return nil
	}
	return context.Cause(s.ctx)
}

// Seq returns the counts of counted messages received and written so far.
func (s *Session) Seq() (in, out uint64) { return s.inSeq.Load(), s.outSeq.Load() }

// Send enqueues one encoded message. b must not be modified afterwards: broadcasts
// enqueue the same bytes to many sessions. Send never blocks; when the queue would
// exceed its bound it closes the session with 1013 and returns ErrSlowConsumer.
func (s *Session) Send(b []byte, counted bool) error {
	return s.enqueue(item{b: b, counted: counted})
}

// SendControl enqueues a control message (welcome, ping, pong) outside the byte bound.
func (s *Session) SendControl(b []byte) error {
	return s.enqueue(item{b: b, control: true})
}

func (s *Session) enqueue(it item) error {
	s.mu.Lock()
	if s.closing != nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		return ErrClosed
	}
	if !it.control {
		n := len(it.b) + overheadBytes
		if queued := s.queued; queued+n > s.cfg.MaxQueueBytes {
			s.mu.Unlock()
			s.log.Warn("slow consumer", "queued", queued, "max", s.cfg.MaxQueueBytes)
			s.Abort(&events.CloseError{Code: events.CloseTryAgainLater, Reason: "slow consumer"})
			return ErrSlowConsumer
		}
		s.queued += n
	}
	s.queue = append(s.queue, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Emit enqueues event name with JSON data (nil means null).
func (s *Session) Emit(name string, data json.RawMessage) error {
	return s.Send(events.AppendEvent(nil, name, data, 0), true)
}

// Reply answers the peer's request id with data, or with e when e is not nil.
func (s *Session) Reply(id uint64, data json.RawMessage, e *events.ErrorBody) error {
	return s.Send(events.AppendAck(nil, id, data, e), true)
}

// Request emits event name asking for an ack and waits for the reply, ctx, the ack
// timeout or the end of the session. An error ack comes back as *events.ErrorBody.
func (s *Session) Request(ctx context.Context, name string, data json.RawMessage) (json.RawMessage, error) {
	ch := make(chan *events.Message, 1)
	s.ackMu.Lock()
	if len(s.pending) >= s.cfg.MaxPendingAcks {
		s.ackMu.Unlock()
		return nil, ErrTooManyAcks
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = ch
	s.ackMu.Unlock()
	defer func() {
		s.ackMu.Lock()
		delete(s.pending, id)
		s.ackMu.Unlock()
	}()
	if err := s.Send(events.AppendEvent(nil, name, data, id), true); err != nil {
		return nil, err
	}
	t := time.NewTimer(s.cfg.AckTimeout)
	defer t.Stop()
	select {
	case m := <-ch:
		if m.Err != nil {
			return nil, m.Err
		}
		return m.Data, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %s after %v", ErrAckTimeout, name, s.cfg.AckTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, ErrClosed
	}
}

// Close ends the session gracefully: what is queued is written, then a close message
// carrying ce, then the transport closes with ce.Code.
func (s *Session) Close(ce *events.CloseError) {
	s.mu.Lock()
	if s.closing != nil || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.tmu.Lock()
	detached := s.dropped
	s.tmu.Unlock()
	if detached { // no transport to say goodbye on
		s.mu.Unlock()
		s.cancel(ce)
		return
	}
	s.closing = ce
	s.queue = append(s.queue, item{b: events.Encode(ce.Message()), control: true, closeMsg: true})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Abort ends the session at once with ce: the queue is dropped and the transport closed
// with ce.Code. The first cause wins.
func (s *Session) Abort(ce *events.CloseError) {
	s.cancel(ce)
}

// DropTransport ends the transport being served, if any, with ce, keeping the session for
// a resume (a newer transport is taking over).
func (s *Session) DropTransport(ce *events.CloseError) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.tcancel != nil {
		s.tcancel(&dropError{ce})
	}
}

// Serving reports whether a transport is being served.
func (s *Session) Serving() bool {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	return s.tcancel != nil
}

// Resume prepares a detached session for the next transport: the peer has received
// peerSeq counted messages, so the retained messages after it are sent again, in order,
// after first (the welcome) and before what is queued. It reports false, changing
// nothing, when those messages are not all retained any more (or peerSeq is impossible):
// the peer must then start a new session.
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
	pool = append(pool, s.retained...)
	for _, it := range s.queue {
		switch {
		case it.seq != 0:
			pool = append(pool, it)
		case it.control && !it.closeMsg:
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
	s.retained, s.retainedBytes, s.lost = nil, 0, false
	s.signal()
	return true
}

// trim forgets the retained messages the peer has acknowledged.
func (s *Session) trim(peerSeq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.retained) && s.retained[i].seq <= peerSeq {
		s.retainedBytes -= len(s.retained[i].b)
		i++
	}
	if i > 0 {
		clear(s.retained[:i])
		s.retained = s.retained[i:]
	}
}

// retain keeps written counted messages for a resume, dropping the oldest past the bound.
func (s *Session) retain(batch []item) {
	if s.cfg.ResumeBytes < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range batch {
		if it.seq != 0 {
			s.retained = append(s.retained, it)
			s.retainedBytes += len(it.b)
		}
	}
	for s.retainedBytes > s.cfg.ResumeBytes && len(s.retained) > 0 {
		s.retainedBytes -= len(s.retained[0].b)
		s.retained[0] = item{}
		s.retained = s.retained[1:]
		s.lost = true
	}
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Serve runs the session over conn until the connection or the session ends, and returns
// why (a *events.CloseError). When the transport dropped (see [Dropped]) and resume is on,
// the session lives on, detached: its queue keeps filling within its bound, and a later
// Serve on another transport, after [Session.Resume], carries on. Otherwise the session
// has ended. lines are messages that arrived with the handshake, handled first.
func (s *Session) Serve(conn transport.Conn, lines [][]byte) error {
	tctx, tcancel := context.WithCancelCause(s.ctx)
	defer tcancel(nil)
	s.tmu.Lock()
	if s.tcancel != nil {
		s.tmu.Unlock()
		panic("session: Serve while another transport is served")
	}
	s.tcancel, s.dropped = tcancel, false
	s.tmu.Unlock()
	if s.ctx.Err() != nil {
		ce := events.Cause(context.Cause(s.ctx))
		_ = conn.Close(ce.Code, ce.Reason)
		s.detach()
		return ce
	}
	s.lastRead.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	wg.Go(func() { s.writeLoop(tctx, conn) })
	closed := make(chan struct{})
	context.AfterFunc(tctx, func() { // closing the transport frees a writer stuck on a stalled peer at once
		defer close(closed)
		ce := events.Cause(context.Cause(tctx))
		_ = conn.Close(ce.Code, ce.Reason)
	})
	err := s.readLoop(tctx, conn, lines)
	tcancel(err)
	wg.Wait()
	<-closed
	s.detach()
	if s.ctx.Err() != nil {
		return context.Cause(s.ctx)
	}
	cause := context.Cause(tctx)
	if Dropped(cause) && s.cfg.ResumeBytes >= 0 {
		s.tmu.Lock()
		s.dropped = true
		s.tmu.Unlock()
		if s.closingSet() { // a Close raced the drop: nobody will flush it now
			s.cancel(events.Cause(cause))
			return context.Cause(s.ctx)
		}
		return cause
	}
	s.cancel(events.Cause(cause))
	return context.Cause(s.ctx)
}

func (s *Session) closingSet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing != nil
}

func (s *Session) detach() {
	s.tmu.Lock()
	s.tcancel = nil
	s.tmu.Unlock()
}

// yieldEvery is how many incoming messages the reader handles between yields.
const yieldEvery = 16

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
		s.ackMu.Lock()
		ch := s.pending[m.ID]
		delete(s.pending, m.ID)
		s.ackMu.Unlock()
		if ch == nil {
			s.log.Debug("ack for no pending request", "id", m.ID)
			return nil
		}
		ch <- &m
		return nil
	case events.TypeEvent:
		// Counted once handed to the dispatcher: an event lost with its transport before
		// that is not acknowledged, so the peer sends it again after a resume.
		select {
		case s.evq <- &m:
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
		case s.evq <- &m:
			s.inSeq.Add(1)
			s.wakeDispatcher()
			return nil
		case <-tctx.Done():
			return context.Cause(tctx)
		}
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

// wakeDispatcher starts a dispatcher unless one runs. An idle session has none: a
// goroutine (and its stack) per session only while it has events to handle.
func (s *Session) wakeDispatcher() {
	if s.dispatching.CompareAndSwap(false, true) {
		go s.dispatchLoop()
	}
}

// dispatchLoop handles the queued events in order, one at a time, and exits when none is
// left (or the session has ended).
func (s *Session) dispatchLoop() {
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

// jitter returns d less up to 10%, so that sessions opened together do not ping together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/10+1))
}

func (s *Session) writeLoop(tctx context.Context, conn transport.Conn) {
	ping := time.NewTimer(jitter(s.cfg.PingInterval))
	defer ping.Stop()
	idleLimit := s.cfg.PingInterval + s.cfg.PongTimeout
	if s.cfg.Passive {
		ping.Reset(idleLimit)
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
				if idle >= idleLimit && !s.readerBlocked.Load() {
					s.log.Info("heartbeat timeout")
					s.dropTransport(tctx, events.CloseHeartbeatTimeout, "heartbeat timeout")
				} else {
					ping.Reset(max(idleLimit-idle, time.Millisecond))
				}
				continue
			}
			in := s.inSeq.Load()
			s.reported.Store(in)
			_ = s.SendControl(events.AppendPing(nil, false, in))
			if !pongArmed { // the oldest unanswered ping decides
				pingSent = time.Now().UnixNano()
				pong.Reset(s.cfg.PongTimeout)
				pongArmed = true
			}
			ping.Reset(jitter(s.cfg.PingInterval))
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
		if in := s.inSeq.Load(); s.cfg.ResumeBytes >= 0 && in-s.reported.Load() >= reportEvery {
			s.reported.Store(in)
			batch = append(batch, item{b: events.AppendPing(nil, true, in), control: true})
		}
		if len(batch) > 0 {
			if err := s.writeBatch(conn, batch); err != nil {
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

// dropTransport ends the transport being served (the session may resume).
func (s *Session) dropTransport(tctx context.Context, code int, reason string) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.tcancel != nil && tctx.Err() == nil {
		s.tcancel(&dropError{&events.CloseError{Code: code, Reason: reason}})
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
	for len(batch) > 0 {
		msgs := s.frame[:0]
		size := 0
		n := 0
		for n < len(batch) && (n == 0 || size+1+len(batch[n].b) <= s.cfg.MaxFrameBytes) {
			size += 1 + len(batch[n].b)
			msgs = append(msgs, batch[n].b)
			n++
		}
		err := write(msgs)
		clear(msgs)
		s.frame = msgs
		if err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// ReceivedSeq returns the count of counted messages received in the session so far.
func (s *Session) ReceivedSeq() uint64 { return s.inSeq.Load() }
