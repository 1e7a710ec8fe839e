package session

import (
	"log/slog"
	"time"

	"github.com/sockhop/sockhop/transport"
)

// Config holds a session's limits and timings. Zero fields take the defaults named; these
// are the defaults of sockhop.Options too, which passes its fields through unchanged.
type Config struct {
	// PingInterval is the time between pings. Zero means 25s.
	PingInterval time.Duration
	// PongTimeout is how long after a ping the peer has to send any frame. Zero means 20s.
	PongTimeout time.Duration
	// MinPingInterval is the shortest time between pings a peer may ask for
	// ([Session.SetPingInterval] clamps to [MinPingInterval, PingInterval]). Zero means 5s;
	// more than PingInterval means PingInterval.
	MinPingInterval time.Duration
	// GoingAwayGrace is how long Run waits for a resume after the peer closed with 1001
	// ("going away": a page that unloads, which may be a reload), instead of ResumeGrace.
	// Zero means 1s; negative means ResumeGrace.
	GoingAwayGrace time.Duration
	// MaxQueueBytes bounds the send queue. Zero means 1 MiB.
	MaxQueueBytes int
	// VolatileBytes is how much the send queue may hold for [Session.SendVolatile] to
	// queue a message: past it the peer is slow and volatile messages are dropped. Zero
	// means 16 KiB.
	VolatileBytes int
	// RefuseWhenFull makes a full queue refuse the message being queued with
	// ErrQueueFull, the session going on, instead of closing it as a slow consumer (1013).
	// Clients set it: their queue fills while they are offline.
	RefuseWhenFull bool
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
	// ResumeGrace is how long [Session.Run] waits for [Session.Attach] after a transport
	// dropped before it ends the session with 1006. Zero means 2 minutes.
	ResumeGrace time.Duration
	// RateLimit is how many messages per second the peer may send on average, and
	// RateBurst how many at once; every line counts, except the acks and pongs the session
	// asked for (read.go has the rule). Past it events are refused (an error ack
	// "rate_limited" when the peer asked for one) and pings go unanswered; a peer that
	// sends RateBurst more than that, refused messages included, is closed with 1008.
	// Zero RateLimit means no limit; zero RateBurst means twice RateLimit.
	RateLimit float64
	RateBurst int
	// Passive is for the client end: it sends no pings, answers the peer's, and ends the
	// session with 4001 when no frame arrived for PingInterval+PongTimeout.
	Passive bool
	// OnServe, when set, is called by [Session.Run] before it serves each transport, and
	// OnDrop after a transport dropped while the session lives on, with why. Both run on
	// Run's goroutine and must not block.
	OnServe func(conn transport.Conn)
	OnDrop  func(conn transport.Conn, reason error)
	// Meter, when set, is called once per transport served, before its reader and writer
	// start, and returns what counts that transport's traffic (nil: none). It is how
	// metrics count messages without a lookup per message.
	Meter func(conn transport.Conn) Meter
	// OnSlowConsumer, when set, is called once when the send queue overflows and the
	// session closes with 1013, with the count of messages dropped (the queued ones and
	// the one refused). It runs on the goroutine that enqueued and must not block.
	OnSlowConsumer func(dropped int)
	// Logger receives the session's log lines. Nil means silent.
	Logger *slog.Logger
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PingInterval, 25*time.Second)
	def(&c.PongTimeout, 20*time.Second)
	def(&c.MinPingInterval, 5*time.Second)
	c.MinPingInterval = min(c.MinPingInterval, c.PingInterval)
	if c.GoingAwayGrace == 0 {
		c.GoingAwayGrace = time.Second
	}
	def(&c.AckTimeout, 10*time.Second)
	def(&c.ResumeGrace, 2*time.Minute)
	if c.GoingAwayGrace < 0 || c.GoingAwayGrace > c.ResumeGrace {
		c.GoingAwayGrace = c.ResumeGrace
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = 1 << 20
	}
	if c.VolatileBytes <= 0 {
		c.VolatileBytes = 16 << 10
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
	return c
}
