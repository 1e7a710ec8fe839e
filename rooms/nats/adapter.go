package nats

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/pubq"
	"github.com/sockhop/sockhop/rooms/internal/wire"
)

var _ rooms.Adapter = (*Adapter)(nil)

// Options configure an [Adapter]. The zero value connects to nats://127.0.0.1:4222. Every
// node of one application must use the same SubjectPrefix.
type Options struct {
	// URL is the NATS server's URL, "nats://host:port", or several separated by commas
	// (a cluster: nats.go picks one and moves to another when it fails). User and password
	// in the URL authenticate. Zero means "nats://127.0.0.1:4222".
	URL string
	// SubjectPrefix starts every subject; it is one or more NATS tokens separated by dots,
	// without spaces or wildcards. Zero means "sockhop". Applications sharing a NATS must
	// use different prefixes.
	SubjectPrefix string
	// NATSOptions are applied after the adapter's own options, for what the adapter does
	// not set itself: credentials (natsgo.UserCredentials, natsgo.Token), TLS
	// (natsgo.Secure, natsgo.RootCAs), a connection name. Options that change reconnection,
	// buffering or the handlers would break what the package doc promises.
	NATSOptions []natsgo.Option

	// HistoryMemory keeps the histories of durable rooms (and the claims) in the server's
	// memory instead of its files: faster, and lost when the server restarts (clients
	// then catch up with recovered false). See the package doc, "Histories".
	HistoryMemory bool

	// Logger receives connection events: Warn when the connection to NATS is lost, Info
	// when it is back, Debug for each failed attempt. Nil means no logging.
	Logger *slog.Logger

	// PublishTimeout bounds how long a Publish waits for room in a full publish queue and
	// the round trip that confirms a subscription. A write to the socket may block for
	// PublishTimeout plus two HealthIntervals before the connection counts as lost. Zero
	// means 1s.
	PublishTimeout time.Duration
	// PublishQueue is how many publications may wait for the writer goroutine; a Publish
	// that finds the queue full waits (see [Adapter.Publish]). Zero means 8192.
	PublishQueue int
	// ReceiveQueue is how many received messages may wait for the delivery goroutine;
	// nats.go drops (and the adapter counts) messages that find it full. Zero means 65536.
	ReceiveQueue int
	// DialTimeout bounds connecting to NATS, up to the server's first answer. Zero means 2s.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential back-off (with jitter) between
	// reconnection attempts. Zero means 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how often the connection sends a PING; two intervals without the
	// answer count as a lost connection. Zero means 3s.
	HealthInterval time.Duration
}

// Stats are counters of an [Adapter], for metrics. Counters only grow.
type Stats struct {
	// Connected reports whether the connection to NATS is up (false before Start).
	Connected bool
	// Rooms is the number of rooms of local interest; Subjects the number of NATS
	// subscriptions made for them, plus one for multi-room broadcasts.
	Rooms, Subjects int
	// Published counts broadcasts handed to the connection (nats.go's write buffer, sent
	// within microseconds; NATS core does not acknowledge a publication). PublishErrors
	// counts Publish calls that returned an error (disconnected, queue full, too large);
	// WriteErrors counts broadcasts Publish had queued and the connection refused (or
	// that the writer dropped because the connection was lost meanwhile).
	Published, PublishErrors, WriteErrors uint64
	// Delivered counts broadcasts from other nodes handed to the deliver function.
	// Skipped counts messages received and not delivered: this node's own, or for rooms
	// with no local members (multi-room broadcasts). Malformed counts messages that could
	// not be decoded. Dropped counts messages nats.go discarded because the receive queue
	// was full (a deliver function too slow for the traffic).
	Delivered, Skipped, Malformed, Dropped uint64
	// Disconnects counts losses of the connection (including a failed first connection);
	// Reconnects counts recoveries.
	Disconnects, Reconnects uint64
	// LastOutage is how long the most recent outage lasted, from the loss being noticed
	// to the connection (and its subscriptions) being restored.
	LastOutage time.Duration
}

// Adapter is a [rooms.Adapter] on NATS core publish/subscribe. Make one with [New]; it is
// safe for concurrent use.
type Adapter struct {
	opts   Options
	log    *slog.Logger
	node   string // random node ID, wire.NodeIDLen bytes
	allSub string // subject of broadcasts to several rooms

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup              // writeLoop and run
	pubq   *pubq.Queue[pubReq]         // from Publish -> writeLoop
	msgs   chan *natsgo.Msg            // from nats.go's reader -> run (every subscription)
	closed chan struct{}               // closed by nats.go's ClosedHandler
	nc     atomic.Pointer[natsgo.Conn] // set once by Start

	connected  atomic.Bool
	stopped    atomic.Bool
	downSince  atomic.Int64 // unix ns when the current outage was noticed, 0 when up
	maxPayload atomic.Int64 // the server's max_payload, from its INFO; 0 before the first

	mu      sync.RWMutex
	rooms   map[string]*roomSub     // guarded by mu: interest per room
	all     *natsgo.Subscription    // guarded by mu
	deliver func(rooms.Publication) // set once by Start, read by run
	started bool                    // guarded by mu
	dropped uint64                  // guarded by mu: Dropped of ended subscriptions

	// JetStream, for histories and claims (history.go).
	jsOnce       sync.Once
	js           jetstream.JetStream
	jsErr        error
	hist, claims jsStream
	appendMu     sync.Mutex
	appending    map[string]*roomLock // guarded by appendMu: rooms with appends under way

	published, publishErrors atomic.Uint64
	writeErrors              pubq.WriteErrors
	delivered, skipped       atomic.Uint64
	badMsgs                  atomic.Uint64
	disconnects, reconnects  atomic.Uint64
	lastOutage               atomic.Int64
}

// roomSub is one room of local interest.
type roomSub struct {
	n         int // Subscribe calls not yet undone
	sub       *natsgo.Subscription
	confirmed bool // a round trip after the SUB succeeded: the server has it
}

var errDisconnected = errors.New("not connected to nats")

// New returns an Adapter for the NATS that opts names. It does not connect yet;
// [Adapter.Start] does.
func New(opts Options) (*Adapter, error) {
	if opts.URL == "" {
		opts.URL = "nats://127.0.0.1:4222"
	}
	if opts.SubjectPrefix == "" {
		opts.SubjectPrefix = "sockhop"
	}
	for tok := range strings.SplitSeq(opts.SubjectPrefix, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return nil, fmt.Errorf("rooms/nats: SubjectPrefix %q is not a dot-separated list of plain tokens", opts.SubjectPrefix)
		}
	}
	pubq.Defaults(&opts.PublishTimeout, &opts.DialTimeout, &opts.MinBackoff, &opts.MaxBackoff,
		&opts.HealthInterval, &opts.PublishQueue)
	if opts.ReceiveQueue <= 0 {
		opts.ReceiveQueue = 65536
	}
	log := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	node := wire.NewNodeID()
	ctx, cancel := context.WithCancel(context.Background())
	a := &Adapter{
		opts:   opts,
		node:   node,
		allSub: opts.SubjectPrefix + ".all",
		ctx:    ctx,
		cancel: cancel,
		pubq:   pubq.NewQueue[pubReq](opts.PublishQueue, opts.PublishTimeout, ctx.Done()),
		msgs:   make(chan *natsgo.Msg, opts.ReceiveQueue),
		closed: make(chan struct{}),
		rooms:  make(map[string]*roomSub),

		appending: make(map[string]*roomLock),
	}
	a.hist = jsStream{name: streamName(opts.SubjectPrefix, "h"), subjects: opts.SubjectPrefix + ".h.>", perSubj: true}
	a.claims = jsStream{name: streamName(opts.SubjectPrefix, "c"), subjects: opts.SubjectPrefix + ".c.>"}
	a.log = log.With("component", "rooms/nats", "url", redactURL(opts.URL), "node", fmt.Sprintf("%x", node))
	a.writeErrors.Log, a.writeErrors.Msg = a.log, "rooms/nats: queued broadcasts not sent"
	return a, nil
}

// redactURL hides the password of URLs for the log.
func redactURL(u string) string {
	var out []string
	for one := range strings.SplitSeq(u, ",") {
		if at := strings.LastIndexByte(one, '@'); at >= 0 {
			if scheme := strings.Index(one, "://"); scheme >= 0 && scheme < at {
				one = one[:scheme+3] + "…" + one[at:]
			}
		}
		out = append(out, one)
	}
	return strings.Join(out, ",")
}

// maxPlainRoom is the longest room name carried in its subject as it is (base64url); a
// longer one is carried as its SHA-256, so subjects stay well under NATS's control line
// limit (4 KiB by default).
const maxPlainRoom = 192

// subjectOf returns the subject that carries broadcasts to room alone:
// "<prefix>.r.b<base64url(room)>", or "<prefix>.r.h<base64url(sha256(room))>" for long
// names. Room names are arbitrary bytes; base64url's alphabet (A-Z a-z 0-9 - _) has no
// dot, space or wildcard, so every name maps to one valid token, and no two names to the
// same one. Receivers check the room names carried in the message, so a hashed subject
// needs no collision handling.
func (a *Adapter) subjectOf(room string) string {
	enc := base64.RawURLEncoding
	if len(room) > maxPlainRoom {
		sum := sha256.Sum256([]byte(room))
		return a.opts.SubjectPrefix + ".r.h" + enc.EncodeToString(sum[:])
	}
	var b strings.Builder
	b.Grow(len(a.opts.SubjectPrefix) + 4 + enc.EncodedLen(len(room)))
	b.WriteString(a.opts.SubjectPrefix)
	b.WriteString(".r.b")
	buf := make([]byte, enc.EncodedLen(len(room)))
	enc.Encode(buf, []byte(room))
	b.Write(buf)
	return b.String()
}

// subjectFor returns the subject of a broadcast to rs: the room's own for one room, the
// shared multi-room subject for several (so a node with members in two of the rooms
// receives it once).
func (a *Adapter) subjectFor(rs []string) string {
	if len(rs) == 1 {
		return a.subjectOf(rs[0])
	}
	return a.allSub
}

// Start connects to NATS (one attempt, bounded by DialTimeout) and starts the goroutine that
// delivers broadcasts from other nodes to deliver. A failed first attempt is logged and
// retried in the background by nats.go, so a node can start while NATS is down; Start then
// still returns nil, and Publish returns errors until the connection is up. ctx is not used
// beyond the call.
func (a *Adapter) Start(ctx context.Context, deliver func(rooms.Publication)) error {
	if deliver == nil {
		return errors.New("rooms/nats: Start with a nil deliver function")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	switch {
	case a.stopped.Load():
		a.mu.Unlock()
		return rooms.ErrClosed
	case a.started:
		a.mu.Unlock()
		return errors.New("rooms/nats: adapter already started")
	}
	a.started = true
	a.deliver = deliver
	a.mu.Unlock()

	opts := []natsgo.Option{
		natsgo.Name("sockhop " + a.NodeID()),
		natsgo.Timeout(a.opts.DialTimeout),
		natsgo.RetryOnFailedConnect(true),
		natsgo.MaxReconnects(-1),
		natsgo.CustomReconnectDelay(a.backoff),
		natsgo.ReconnectBufSize(-1), // while reconnecting, publishing fails: no silent buffer
		natsgo.PingInterval(a.opts.HealthInterval),
		natsgo.MaxPingsOutstanding(1),
		// A socket write that blocks this long means a dead or hung server: reconnect.
		// Not sooner: a busy server (or a CPU-starved node) is not a lost connection.
		natsgo.FlusherTimeout(a.opts.PublishTimeout + 2*a.opts.HealthInterval),
		natsgo.ReconnectOnFlusherError(),
		natsgo.NoEcho(), // the server does not send this connection's publications back
		natsgo.DisconnectErrHandler(a.onDisconnect),
		natsgo.ReconnectHandler(a.onReconnect),
		natsgo.ConnectHandler(a.onConnect),
		natsgo.ClosedHandler(func(*natsgo.Conn) { close(a.closed) }),
		natsgo.ErrorHandler(a.onAsyncError),
		natsgo.ReconnectErrHandler(func(_ *natsgo.Conn, err error) {
			a.log.Debug("rooms/nats: reconnect failed", "err", err)
		}),
	}
	a.downSince.Store(time.Now().UnixNano())
	nc, err := natsgo.Connect(a.opts.URL, append(opts, a.opts.NATSOptions...)...)
	if err != nil { // a bad option or URL: RetryOnFailedConnect covers an absent server
		a.mu.Lock()
		a.started = false
		a.mu.Unlock()
		return fmt.Errorf("rooms/nats: connect: %w", err)
	}
	if !nc.IsConnected() {
		a.disconnects.Add(1)
		a.log.Warn("rooms/nats: cannot connect; cross-node broadcasts fail until it can")
	} else {
		a.maxPayload.Store(nc.MaxPayload())
		a.downSince.Store(0)
		a.connected.Store(true)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped.Load() {
		nc.Close()
		return rooms.ErrClosed
	}
	a.nc.Store(nc)
	// Subscriptions made before Start (none in a server, which starts first) and the
	// multi-room subject; nats.go sends them now or on its (re)connection.
	if a.all, err = nc.ChanSubscribe(a.allSub, a.msgs); err != nil {
		return fmt.Errorf("rooms/nats: subscribe: %w", err)
	}
	for room, rs := range a.rooms {
		if rs.sub, err = nc.ChanSubscribe(a.subjectOf(room), a.msgs); err != nil {
			return fmt.Errorf("rooms/nats: subscribe: %w", err)
		}
	}
	a.wg.Add(2)
	go a.run()
	go a.writeLoop()
	return nil
}

// backoff returns the wait before reconnection attempt n (1, 2, ...): exponential from
// MinBackoff up to MaxBackoff, with jitter (see [pubq.Backoff]).
func (a *Adapter) backoff(n int) time.Duration {
	return pubq.Backoff(n-1, a.opts.MinBackoff, a.opts.MaxBackoff)
}

// onDisconnect runs on nats.go's callback goroutine when the connection is lost.
func (a *Adapter) onDisconnect(_ *natsgo.Conn, err error) {
	if a.stopped.Load() {
		return
	}
	a.connected.Store(false)
	if a.downSince.CompareAndSwap(0, time.Now().UnixNano()) {
		a.disconnects.Add(1)
		a.log.Warn("rooms/nats: connection lost; cross-node broadcasts fail until it is back", "err", err)
	}
}

// onReconnect runs on nats.go's callback goroutine once a new connection is up; nats.go
// has sent every subscription on it before. A round trip makes sure the server has
// processed them before the adapter counts as connected (and Publish works again), so a
// broadcast another node publishes once this one reports Connected reaches it.
func (a *Adapter) onReconnect(nc *natsgo.Conn) {
	if a.stopped.Load() {
		return
	}
	if err := nc.FlushTimeout(a.opts.PublishTimeout); err != nil {
		// Lost again (a disconnect callback follows) or slow: count the connection as up
		// anyway rather than risk never doing so.
		a.log.Debug("rooms/nats: no answer to the round trip after reconnecting", "err", err)
	}
	a.maxPayload.Store(nc.MaxPayload()) // the new server's may differ
	a.connected.Store(true)
	if since := a.downSince.Swap(0); since != 0 {
		d := time.Since(time.Unix(0, since))
		a.lastOutage.Store(int64(d))
		a.reconnects.Add(1)
		a.log.Info("rooms/nats: connection restored", "down_for", d.Round(time.Millisecond), "server", nc.ConnectedUrlRedacted())
	}
}

// onConnect runs on nats.go's callback goroutine when the first connection is up, at once
// or after failed first attempts.
func (a *Adapter) onConnect(nc *natsgo.Conn) {
	a.maxPayload.Store(nc.MaxPayload())
	if a.disconnects.Load() == 0 { // up at the first attempt: Start has seen it
		a.connected.Store(true)
		a.downSince.Store(0)
		return
	}
	a.onReconnect(nc)
}

// onAsyncError runs on nats.go's callback goroutine for errors no call returned: a slow
// consumer (the receive queue was full), a permissions violation.
func (a *Adapter) onAsyncError(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
	if errors.Is(err, natsgo.ErrSlowConsumer) {
		a.log.Warn("rooms/nats: receive queue full, dropping broadcasts from other nodes", "err", err)
		return
	}
	a.log.Error("rooms/nats: asynchronous error", "err", err)
}

// Close stops the delivery and writer goroutines and closes the connection, waiting for
// them until ctx is done. The writer hands what is still queued to the connection and
// flushes it (bounded by PublishTimeout) before the connection closes; Publish calls
// waiting for room in the queue return [rooms.ErrClosed]. Against a hung server, a write
// already blocked on the socket holds the connection until it times out (PublishTimeout
// plus two HealthIntervals), and closing the connection waits for it.
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped.Swap(true) {
		a.mu.Unlock()
		return rooms.ErrClosed
	}
	a.mu.Unlock()
	a.cancel()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("rooms/nats: close: %w", ctx.Err())
	}
	a.connected.Store(false)
	nc := a.nc.Load()
	if nc == nil {
		return err
	}
	nc.Close() // also ends a writer still stuck on the socket
	if err != nil {
		return err
	}
	select { // nats.go's goroutines end after its ClosedHandler has run
	case <-a.closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rooms/nats: close: %w", ctx.Err())
	}
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	a.mu.RLock()
	nRooms, started, dropped := len(a.rooms), a.started, a.dropped
	for _, rs := range a.rooms {
		dropped += subDropped(rs.sub)
	}
	dropped += subDropped(a.all)
	a.mu.RUnlock()
	return Stats{
		Connected:     started && a.connected.Load() && !a.stopped.Load(),
		Rooms:         nRooms,
		Subjects:      nRooms + 1,
		Published:     a.published.Load(),
		PublishErrors: a.publishErrors.Load(),
		WriteErrors:   a.writeErrors.Load(),
		Delivered:     a.delivered.Load(),
		Skipped:       a.skipped.Load(),
		Malformed:     a.badMsgs.Load(),
		Dropped:       dropped,
		Disconnects:   a.disconnects.Load(),
		Reconnects:    a.reconnects.Load(),
		LastOutage:    time.Duration(a.lastOutage.Load()),
	}
}

func subDropped(s *natsgo.Subscription) uint64 {
	if s == nil {
		return 0
	}
	n, err := s.Dropped()
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

// NodeID returns this adapter's random node ID in hex, as its log lines show it.
func (a *Adapter) NodeID() string { return fmt.Sprintf("%x", a.node) }
