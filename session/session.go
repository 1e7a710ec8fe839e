package session

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockhop/sockhop/events"
)

// Handler receives a session's events.
type Handler interface {
	// HandleEvent is called on the session's dispatcher goroutine, one event at a time, in
	// the order the peer sent them. ctx is the session's context. A panic is recovered and
	// closes the session with 1011.
	//
	// m is the handler's until it returns, and then reused for a later event: a handler
	// that needs the message afterwards keeps a copy (*m), not m. The slices m refers to
	// (Data, B) are never reused and may be kept.
	HandleEvent(ctx context.Context, m *events.Message)
}

// HandlerFunc adapts a function to [Handler]; m is the function's until it returns (see
// [Handler]).
type HandlerFunc func(ctx context.Context, m *events.Message)

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, m *events.Message) { f(ctx, m) }

// Meter counts one transport's traffic (see Config.Meter). Its methods are called on the
// session's reader and writer goroutines, once per frame, and must be cheap and safe for
// concurrent use: an atomic add, no allocation, no lock.
type Meter interface {
	// Received counts a frame read: its messages (lines) and bytes.
	Received(messages, bytes int)
	// Sent counts a frame written: its messages and bytes (newlines included).
	Sent(messages, bytes int)
	// RateLimited counts messages of a frame refused for the message rate.
	RateLimited(messages int)
}

// nopMeter counts nothing.
type nopMeter struct{}

func (nopMeter) Received(int, int) {}
func (nopMeter) Sent(int, int)     {}
func (nopMeter) RateLimited(int)   {}

// Errors returned by a Session.
var (
	ErrClosed       = errors.New("sockhop: session closed")
	ErrSlowConsumer = errors.New("sockhop: slow consumer: send queue full")
	// ErrQueueFull is returned by Send, Emit, Reply and Request when the queue is full
	// and Config.RefuseWhenFull is set: the message was not queued; the session goes on.
	ErrQueueFull   = errors.New("sockhop: send queue full")
	ErrAckTimeout  = errors.New("sockhop: ack timeout")
	ErrTooManyAcks = errors.New("sockhop: too many pending acks")
	// ErrResumeImpossible is returned by Attach when the messages the peer lacks are no
	// longer retained; the session has then ended with 1006.
	ErrResumeImpossible = errors.New("sockhop: resume impossible: messages lost")
)

// Session is one logical session. Create it with [New]; serve transports with
// [Session.Run] and [Session.Attach] (or one with [Session.Serve]).
//
// Fields are grouped by the goroutine that owns them (doc.go has the table).
type Session struct {
	// Set by New, then read-only.
	id        string
	cfg       Config
	h         Handler
	log       *slog.Logger
	ctx       context.Context
	cancelCtx context.CancelCauseFunc // see cancel
	evq       chan *events.Message    // reader -> dispatcher (nil: a wake-up, see tick); made by the reader's first event, before any dispatcher
	handoff   chan *handoff           // Attach -> Run

	// The send queue and the resume buffer: every goroutine that enqueues, and the writer.
	mu            sync.Mutex
	queue         []item             // guarded by mu
	queued        int                // bytes in queue; guarded by mu
	closing       *events.CloseError // a graceful close was asked for; guarded by mu
	retained      ring               // written counted messages not yet acknowledged, by seq; guarded by mu
	retainedBytes int                // guarded by mu
	lost          bool               // retained overflowed: a resume from before it is impossible; guarded by mu

	// The transport being served: Serve, and whoever drops it.
	tmu     sync.Mutex
	tcancel func(error)   // ends the transport being served (served.cancel); nil while none is; guarded by tmu
	dropped bool          // the last transport dropped and none serves yet; guarded by tmu
	grace   time.Duration // how long Run waits for a resume after this drop; guarded by tmu

	// Written by one goroutine, read by others.
	lastRead      atomic.Int64  // unix nanos of the last frame read; reader -> writer
	readerBlocked atomic.Bool   // the reader waits for the dispatcher, so it cannot read; reader -> writer
	inSeq         atomic.Uint64 // counted messages received; reader -> everyone
	outSeq        atomic.Uint64 // counted messages written; writer -> everyone
	reported      atomic.Uint64 // inSeq last acknowledged to the peer; writer -> reader

	// Reports held back (HoldReports): the seqs of resume hellos under way elsewhere.
	hmu   sync.Mutex
	holds []uint64     // guarded by hmu
	held  atomic.Int32 // len(holds): AckSeq's fast path

	pings  atomic.Uint64 // pings written (enqueued); writer -> reader
	pingNs atomic.Int64  // the ping interval in use (SetPingInterval); anyone -> writer
	slow   atomic.Bool   // the queue overflowed (OnSlowConsumer was called); enqueuers

	// Owned by the reader (the goroutine in Serve); read.go explains the rate limit.
	tokens     float64             // messages the peer may send now and be served; at most RateBurst
	credit     float64             // messages, refused ones included, it may send before it is closed
	refill     time.Time           // when tokens and credit were last refilled
	peerSeq    uint64              // the highest r the peer reported
	answered   uint64              // pings of ours the peer answered (pongs not charged for it)
	lines      [][]byte            // the frame being handled, split into lines
	msgs       []inMessage         // its messages, decoded
	freeAcks   map[uint64]struct{} // acks of the frame being handled that complete a request
	handedOver bool                // the frame being handled queued an event for the dispatcher

	// Owned by the writer.
	frame [][]byte // the frame being written

	cur atomic.Pointer[served] // the transport served, while its writer may start

	// The Meter of the transport served: set by Serve before its reader and writer start,
	// read by them only.
	meter Meter

	// The dispatcher: started by the reader, waited for by Wait.
	dmu         sync.Mutex
	dispatchers sync.WaitGroup       // the dispatcher goroutine, while one runs; Add guarded by dmu
	waited      bool                 // Wait was called: no dispatcher starts any more; guarded by dmu
	dispatching atomic.Bool          // a dispatcher goroutine runs; it exits when evq stayed empty for dispatchLinger
	dispatchFn  func()               // s.dispatchLoop, made once: a go statement of a method call allocates its closure every time
	tickFn      func()               // s.tick, made once, for the same reason
	fired       atomic.Bool          // the dispatcher's linger timer fired since the dispatcher last looked; tick -> dispatcher
	idle        atomic.Bool          // the dispatcher waits on evq (or is about to); dispatcher -> tick
	dq          chan *events.Message // evq once a dispatcher started, for wake; guarded by dmu
	holdReplies atomic.Bool          // a handler runs: its replies wait for it to return (flushReplies); dispatcher -> Reply
	repliesHeld atomic.Bool          // a reply was queued and is waiting; Reply -> dispatcher
	idleHook    func()               // tests: runs when a dispatcher is about to end

	// Acks of Requests: the caller of Request, and the reader that completes them.
	ackMu   sync.Mutex
	nextID  uint64
	pending map[uint64]chan *events.Message // guarded by ackMu; nil until the first Request
}

// New returns a session with id whose context derives from parent. h handles its events.
// Cancelling parent ends the session; the transport it serves then ends at its next ping
// ([Session.Abort] ends both at once).
func New(parent context.Context, id string, cfg Config, h Handler) *Session {
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithCancelCause(parent)
	s := &Session{
		id:        id,
		cfg:       cfg,
		h:         h,
		log:       cfg.Logger,
		ctx:       ctx,
		cancelCtx: cancel,
		handoff:   make(chan *handoff),
		meter:     nopMeter{},
	}
	s.dispatchFn, s.tickFn = s.dispatchLoop, s.tick
	s.pingNs.Store(int64(cfg.PingInterval))
	return s
}

// SetPingInterval sets the time between the session's pings (on the client end, with
// Config.Passive: the interval the server announced, which sets when the server is
// declared dead), clamped to [Config.MinPingInterval, Config.PingInterval], and returns
// the interval it took. Zero or less means Config.PingInterval. The writer takes it from
// its next ping on (a transport served later, from its first).
func (s *Session) SetPingInterval(d time.Duration) time.Duration {
	switch {
	case d <= 0 || d > s.cfg.PingInterval && !s.cfg.Passive:
		d = s.cfg.PingInterval
	case d < s.cfg.MinPingInterval && !s.cfg.Passive:
		d = s.cfg.MinPingInterval
	}
	s.pingNs.Store(int64(d))
	return d
}

// PingInterval returns the time between the session's pings (see SetPingInterval).
func (s *Session) PingInterval() time.Duration { return time.Duration(s.pingNs.Load()) }

// LastRead returns when the last frame arrived on the transport served now or last (the
// time it began, when none arrived).
func (s *Session) LastRead() time.Time { return time.Unix(0, s.lastRead.Load()) }

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

// ReceivedSeq returns the count of counted messages received in the session so far.
func (s *Session) ReceivedSeq() uint64 { return s.inSeq.Load() }

// HoldReports returns [Session.ReceivedSeq] for the hello of a resume on another
// transport while this one is still served (a background upgrade), and holds the count the
// session reports to the peer (r, which makes the peer forget what it acknowledges) at
// that seq until release is called: the resume must find every message after its seq
// (PROTOCOL.md §6, "Switching transports"). Holds nest; release is idempotent.
func (s *Session) HoldReports() (seq uint64, release func()) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.held.Add(1) // before the load: see AckSeq
	seq = s.inSeq.Load()
	s.holds = append(s.holds, seq)
	var once sync.Once
	return seq, func() {
		once.Do(func() {
			s.hmu.Lock()
			defer s.hmu.Unlock()
			i := slices.Index(s.holds, seq)
			s.holds = slices.Delete(s.holds, i, i+1)
			s.held.Add(-1)
		})
	}
}

// AckSeq returns the count of received counted messages the session may report to the
// peer: ReceivedSeq, at most the seq of a hold (HoldReports).
func (s *Session) AckSeq() uint64 {
	in := s.inSeq.Load()
	if s.held.Load() == 0 {
		// Loaded after in: a hold that counted from a seq below in would have been seen.
		return in
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for _, h := range s.holds {
		in = min(in, h)
	}
	return in
}

// Wait blocks until the session has ended and its last handler has returned. After it,
// no handler runs for this session. A handler must not call it (it would wait for
// itself).
func (s *Session) Wait() {
	<-s.ctx.Done()
	s.dmu.Lock()
	s.waited = true
	s.dmu.Unlock()
	s.wake() // ended by New's parent: nobody else woke it
	s.dispatchers.Wait()
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
	s.signal()
}

// cancel ends the session with err (the first cause wins), and the transport it serves.
// The transport's context is not a child of the session's: a child would cost every
// session a map of its children (about 200 B) and ctx's Done channel. The session's own
// ends come through here; one that comes from New's parent reaches the transport at its
// next heartbeat (onPing), or when the server closes its connection (Server.Shutdown).
func (s *Session) cancel(err error) {
	s.cancelCtx(err)
	s.wake()
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.tcancel != nil {
		s.tcancel(context.Cause(s.ctx))
	}
}

// Abort ends the session at once with ce: the queue is dropped and the transport closed
// with ce.Code. The first cause wins.
func (s *Session) Abort(ce *events.CloseError) {
	s.cancel(ce)
}

// Emit enqueues event name with JSON data (nil means null).
func (s *Session) Emit(name string, data json.RawMessage) error {
	return s.Send(events.AppendEvent(nil, name, data, 0), true)
}

// EmitBytes enqueues event name with data as bytes: a binary message (events/binary.go).
func (s *Session) EmitBytes(name string, data []byte) error {
	return s.Send(events.AppendBinaryEvent(nil, name, data, 0), true)
}

// ReplyBytes answers the peer's request id with data as bytes. Like Reply, it is meant
// for the handler's goroutine.
func (s *Session) ReplyBytes(id uint64, data []byte) error {
	return s.sendReply(events.AppendBinaryAck(nil, id, data))
}

// Reply answers the peer's request id with data, or with e when e is not nil. Called
// by a handler, on the dispatcher's goroutine (a reply made elsewhere while a handler
// runs waits for that handler too), the reply is written when the handler returns,
// by the dispatcher itself if no writer runs (see flushReplies).
func (s *Session) Reply(id uint64, data json.RawMessage, e *events.ErrorBody) error {
	return s.sendReply(events.AppendAck(nil, id, data, e))
}
