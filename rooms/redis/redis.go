package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/sockhop/sockhop/rooms"
)

var _ rooms.Adapter = (*Adapter)(nil)

// Options configure an [Adapter]. The zero value connects to 127.0.0.1:6379 without TLS.
// Every node of one application must use the same KeyPrefix and Shards.
type Options struct {
	// Addr is the Redis server's "host:port". Zero means "127.0.0.1:6379". Ignored when
	// URL is set.
	Addr string
	// URL is a redis:// or rediss:// URL ("redis://user:pass@host:6379/0"), as go-redis's
	// ParseURL reads it. It takes precedence over Addr. Pub/Sub ignores the database
	// number: channels are shared by all databases of a server, which is what KeyPrefix is
	// for.
	URL string
	// Username and Password authenticate (Redis ACL); they override those of URL.
	Username, Password string
	// TLS, when not nil, is used for every connection (it overrides a rediss:// URL's).
	TLS *tls.Config

	// KeyPrefix starts every channel name. Zero means "sockhop". Applications sharing a
	// Redis must use different prefixes.
	KeyPrefix string
	// Shards selects the channel layout. Zero means one channel per room
	// ("<prefix>:r:<room>"), the default chosen by measurement (see the package doc).
	// A positive n hashes rooms onto n channels ("<prefix>:s:<i>"): fewer SUBSCRIBE
	// commands for nodes with many short-lived rooms, but every node then also receives
	// (and drops) the broadcasts of other rooms that share its shards.
	Shards int

	// Logger receives connection events: Warn when the connection to Redis is lost, Info
	// when it is back, Debug for each failed attempt. Nil means no logging.
	Logger *slog.Logger

	// PublishTimeout bounds one Publish round trip to Redis. Zero means 1s.
	PublishTimeout time.Duration
	// DialTimeout bounds connecting to Redis. Zero means 2s.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential back-off (with jitter) between
	// reconnection attempts. Zero means 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how long the subscriber connection may stay silent before the
	// adapter sends a PING; a PING unanswered for another HealthInterval counts as a lost
	// connection. Zero means 3s.
	HealthInterval time.Duration
}

// Stats are counters of an [Adapter], for metrics. Counters only grow.
type Stats struct {
	// Connected reports whether the subscriber connection to Redis is up (false before
	// Start).
	Connected bool
	// Rooms is the number of rooms of local interest; Channels the number of Redis
	// channels subscribed for them, plus one for multi-room broadcasts.
	Rooms, Channels int
	// Published counts broadcasts Redis accepted; PublishErrors those it did not (or that
	// failed at once because the adapter was disconnected).
	Published, PublishErrors uint64
	// Delivered counts broadcasts from other nodes handed to the deliver function.
	// Skipped counts messages received and not delivered: this node's own, or for rooms
	// with no local members (sharded layout, multi-room broadcasts). Malformed counts
	// messages that could not be decoded.
	Delivered, Skipped, Malformed uint64
	// Disconnects counts losses of the subscriber connection (including a failed first
	// connection); Reconnects counts recoveries.
	Disconnects, Reconnects uint64
	// LastOutage is how long the most recent outage lasted, from the loss being noticed
	// to the subscriptions being restored.
	LastOutage time.Duration
}

// Adapter is a [rooms.Adapter] on Redis Pub/Sub. Make one with [New]; it is safe for
// concurrent use.
type Adapter struct {
	opts   Options
	log    *slog.Logger
	client *goredis.Client
	node   string // random node ID, nodeIDLen bytes
	allCh  string // channel for broadcasts to several rooms

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // writeLoop and run
	pubq   chan *pubReq   // from Publish -> writeLoop
	reqs   sync.Pool      // *pubReq

	connected atomic.Bool
	closed    atomic.Bool

	// subMu serialises every change of the subscription set on the wire (SUBSCRIBE,
	// UNSUBSCRIBE, a new connection's resubscription), so the commands Redis sees follow
	// the order of the changes to channels.
	subMu sync.Mutex

	mu       sync.RWMutex
	ps       *goredis.PubSub       // guarded by mu: the live subscriber connection, nil while down
	rooms    map[string]int        // guarded by mu: Subscribe counts per room
	channels map[string]int        // guarded by mu: rooms of interest per channel
	waiters  map[string]*waiter    // guarded by mu: channels awaiting Redis's confirmation
	deliver  func(rooms.Broadcast) // set once by Start, read by run
	started  bool                  // guarded by mu
	stopped  bool                  // guarded by mu: Close has begun

	published, publishErrors    atomic.Uint64
	delivered, skipped, badMsgs atomic.Uint64
	disconnects, reconnects     atomic.Uint64
	lastOutage                  atomic.Int64
}

// waiter is closed when Redis confirms a channel's subscription (err nil) or when the
// connection it was sent on is lost (err set).
type waiter struct {
	done chan struct{}
	err  error // written before done is closed
}

// release wakes the Subscribe calls waiting on w. The caller holds a.mu and removes w.
func (w *waiter) release(err error) {
	w.err = err
	close(w.done)
}

// pubReq is one Publish waiting for writeLoop.
type pubReq struct {
	channel string
	payload []byte
	done    chan error // cap 1
}

// maxBatch is the most PUBLISH commands writeLoop pipelines in one round trip.
const maxBatch = 256

var errDisconnected = errors.New("not connected to redis")

// New returns an Adapter for the Redis that opts names. It does not connect yet; [Adapter.Start]
// does, and Publish works from New on.
func New(opts Options) (*Adapter, error) {
	var ro *goredis.Options
	if opts.URL != "" {
		var err error
		if ro, err = goredis.ParseURL(opts.URL); err != nil {
			return nil, fmt.Errorf("rooms/redis: %w", err)
		}
	} else {
		ro = &goredis.Options{Addr: opts.Addr}
		if ro.Addr == "" {
			ro.Addr = "127.0.0.1:6379"
		}
	}
	if opts.Username != "" {
		ro.Username = opts.Username
	}
	if opts.Password != "" {
		ro.Password = opts.Password
	}
	if opts.TLS != nil {
		ro.TLSConfig = opts.TLS
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "sockhop"
	}
	if opts.Shards < 0 {
		return nil, fmt.Errorf("rooms/redis: negative Shards %d", opts.Shards)
	}
	setDefault(&opts.PublishTimeout, time.Second)
	setDefault(&opts.DialTimeout, 2*time.Second)
	setDefault(&opts.MinBackoff, 50*time.Millisecond)
	setDefault(&opts.MaxBackoff, 2*time.Second)
	setDefault(&opts.HealthInterval, 3*time.Second)
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}

	ro.DialTimeout = opts.DialTimeout
	ro.DialerRetries = 1 // the adapter retries with its own back-off
	ro.MaxRetries = -1   // a retried PUBLISH could be delivered twice
	ro.ReadTimeout = opts.PublishTimeout
	ro.WriteTimeout = opts.PublishTimeout
	ro.ContextTimeoutEnabled = true
	ro.Protocol = 2 // plain RESP2 Pub/Sub, as every Redis since 2.0 speaks it
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [nodeIDLen]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	ctx, cancel := context.WithCancel(context.Background())
	a := &Adapter{
		opts:     opts,
		client:   goredis.NewClient(ro),
		node:     string(id[:]),
		allCh:    opts.KeyPrefix + ":all",
		ctx:      ctx,
		cancel:   cancel,
		pubq:     make(chan *pubReq, maxBatch),
		rooms:    make(map[string]int),
		channels: make(map[string]int),
		waiters:  make(map[string]*waiter),
	}
	a.log = log.With("component", "rooms/redis", "addr", ro.Addr, "node", fmt.Sprintf("%x", id))
	a.connected.Store(true) // until Start learns otherwise, Publish tries the network
	a.wg.Add(1)
	go a.writeLoop()
	return a, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// channelOf returns the channel that carries broadcasts to room alone.
func (a *Adapter) channelOf(room string) string {
	if a.opts.Shards == 0 {
		return a.opts.KeyPrefix + ":r:" + room
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(room))
	return a.opts.KeyPrefix + ":s:" + strconv.Itoa(int(h.Sum32()%uint32(a.opts.Shards)))
}

// channelFor returns the channel that carries a broadcast to rooms: the room's own channel
// for one room, the shared multi-room channel for several (so a node with members in two of
// the rooms receives the broadcast once).
func (a *Adapter) channelFor(rs []string) string {
	if len(rs) == 1 {
		return a.channelOf(rs[0])
	}
	return a.allCh
}

// Start connects the subscriber to Redis (one attempt, bounded by DialTimeout and ctx) and
// starts the goroutine that delivers broadcasts from other nodes to deliver and reconnects
// after losses. A failed first attempt is logged and retried in the background, so a node
// can start while Redis is down; Start then still returns nil, and Publish returns errors
// until the connection is up.
func (a *Adapter) Start(ctx context.Context, deliver func(rooms.Broadcast)) error {
	if deliver == nil {
		return errors.New("rooms/redis: Start with a nil deliver function")
	}
	a.mu.Lock()
	switch {
	case a.stopped:
		a.mu.Unlock()
		return rooms.ErrClosed
	case a.started:
		a.mu.Unlock()
		return errors.New("rooms/redis: adapter already started")
	}
	a.started = true
	a.deliver = deliver
	a.mu.Unlock()

	ps, err := a.connect(ctx)
	if err != nil {
		a.connected.Store(false)
	}
	a.wg.Add(1)
	go a.run(ps, err)
	return nil
}

// connect opens a subscriber connection and subscribes it to every channel of interest.
func (a *Adapter) connect(ctx context.Context) (*goredis.PubSub, error) {
	a.subMu.Lock()
	defer a.subMu.Unlock()
	a.mu.RLock()
	chans := make([]string, 0, len(a.channels)+1)
	chans = append(chans, a.allCh)
	for ch := range a.channels {
		chans = append(chans, ch)
	}
	a.mu.RUnlock()

	ctx, cancel := context.WithTimeout(ctx, a.opts.DialTimeout+a.opts.PublishTimeout)
	defer cancel()
	stop := context.AfterFunc(a.ctx, cancel) // Close interrupts a connection attempt
	defer stop()
	ps := a.client.Subscribe(ctx) // no I/O yet
	for len(chans) > 0 {
		n := min(len(chans), 1024) // keep each SUBSCRIBE command reasonably small
		if err := ps.Subscribe(ctx, chans[:n]...); err != nil {
			_ = ps.Close()
			return nil, err
		}
		chans = chans[n:]
	}
	// A TCP handshake and a write succeed even against a hung server (the kernel answers
	// for it), so the connection counts as up only when Redis confirms the first channel.
	msg, err := ps.ReceiveTimeout(ctx, a.opts.DialTimeout)
	if err != nil {
		_ = ps.Close()
		return nil, err
	}
	if sub, ok := msg.(*goredis.Subscription); !ok || sub.Kind != "subscribe" || sub.Channel != a.allCh {
		_ = ps.Close()
		return nil, fmt.Errorf("unexpected first reply %v", msg)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		_ = ps.Close()
		return nil, rooms.ErrClosed
	}
	a.ps = ps
	return ps, nil
}

// run owns the subscriber connection: it receives until the connection fails, then
// reconnects with back-off until Close.
func (a *Adapter) run(ps *goredis.PubSub, err error) {
	defer a.wg.Done()
	var downSince time.Time
	attempt := 0
	for {
		if err == nil {
			if !downSince.IsZero() {
				d := time.Since(downSince)
				a.lastOutage.Store(int64(d))
				a.reconnects.Add(1)
				a.log.Info("rooms/redis: connection restored", "down_for", d.Round(time.Millisecond), "attempts", attempt)
				downSince = time.Time{}
			}
			attempt = 0
			a.connected.Store(true)
			err = a.receive(ps)
			a.mu.Lock()
			if a.ps == ps {
				a.ps = nil
			}
			// Subscriptions sent on the lost connection will not be confirmed there; their
			// callers learn it now, and the next connection subscribes the channels anyway.
			for ch, w := range a.waiters {
				w.release(errDisconnected)
				delete(a.waiters, ch)
			}
			a.mu.Unlock()
			_ = ps.Close()
		}
		if a.ctx.Err() != nil {
			return
		}
		if downSince.IsZero() {
			downSince = time.Now()
			a.connected.Store(false)
			a.disconnects.Add(1)
			a.log.Warn("rooms/redis: connection lost; cross-node broadcasts fail until it is back", "err", err)
		} else {
			a.log.Debug("rooms/redis: reconnect failed", "attempt", attempt, "err", err)
		}
		t := time.NewTimer(a.backoff(attempt))
		select {
		case <-a.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		attempt++
		ps, err = a.connect(a.ctx)
	}
}

// backoff returns the wait before reconnection attempt n: exponential from MinBackoff up
// to MaxBackoff, with "equal jitter" (half fixed, half random) so nodes do not reconnect
// in lockstep after Redis restarts.
func (a *Adapter) backoff(n int) time.Duration {
	d := a.opts.MaxBackoff
	if n < 30 {
		if e := a.opts.MinBackoff << n; e > 0 && e < d {
			d = e
		}
	}
	return d/2 + mrand.N(d/2+1)
}

// receive reads the subscriber connection until it fails.
func (a *Adapter) receive(ps *goredis.PubSub) error {
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(a.ctx, a.opts.HealthInterval)
		if err != nil {
			if a.ctx.Err() != nil {
				return a.ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					return errors.New("no answer to PING")
				}
				if err := ps.Ping(a.ctx); err != nil {
					return err
				}
				pinged = true
				continue
			}
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Message:
			a.handle(m.Payload)
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				a.confirm(m.Channel)
			}
		}
	}
}

// handle decodes one message and delivers it when it is from another node and for a
// room of local interest.
func (a *Adapter) handle(payload string) {
	node, ok := decodeHeader(payload)
	if !ok {
		a.badMsgs.Add(1)
		return
	}
	if node == a.node {
		a.skipped.Add(1)
		return
	}
	b, err := decode(payload)
	if err != nil {
		a.badMsgs.Add(1)
		return
	}
	a.mu.RLock()
	interested := false
	for _, r := range b.Rooms {
		if a.rooms[r] > 0 {
			interested = true
			break
		}
	}
	a.mu.RUnlock()
	if !interested {
		a.skipped.Add(1)
		return
	}
	a.delivered.Add(1)
	a.deliver(b)
}

// confirm wakes the Subscribe calls waiting for channel.
func (a *Adapter) confirm(channel string) {
	a.mu.Lock()
	if w := a.waiters[channel]; w != nil {
		w.release(nil)
		delete(a.waiters, channel)
	}
	a.mu.Unlock()
}

// Publish sends b to the nodes subscribed to its rooms: a one-room broadcast on the room's
// channel, a multi-room one on the prefix's shared channel. It returns when Redis has
// accepted it. While the adapter is disconnected it fails at once; otherwise a round trip
// is bounded by ctx and PublishTimeout. Errors wrap [rooms.ErrUnavailable] (or are
// ctx's error, or [rooms.ErrClosed]).
//
// Concurrent Publish calls share round trips: a single goroutine pipelines whatever
// broadcasts are waiting into one write, in the order they arrived, so broadcasts that
// one goroutine publishes one after another reach every node in that order.
func (a *Adapter) Publish(ctx context.Context, b rooms.Broadcast) error {
	if a.closed.Load() {
		return rooms.ErrClosed
	}
	if len(b.Rooms) == 0 {
		return nil
	}
	if !a.connected.Load() {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/redis: publish: %w: %w", rooms.ErrUnavailable, errDisconnected)
	}
	r, _ := a.reqs.Get().(*pubReq)
	if r == nil {
		r = &pubReq{done: make(chan error, 1)}
	}
	r.channel = a.channelFor(b.Rooms)
	r.payload = encode(make([]byte, 0, encodedLen(b)), a.node, b)
	select {
	case a.pubq <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		return ctx.Err() // r is still writeLoop's: not recycled
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
	r.channel, r.payload = "", nil
	a.reqs.Put(r)
	if err != nil {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/redis: publish: %w: %w", rooms.ErrUnavailable, err)
	}
	a.published.Add(1)
	return nil
}

// writeLoop sends what Publish queues, pipelining up to maxBatch commands per round trip.
func (a *Adapter) writeLoop() {
	defer a.wg.Done()
	batch := make([]*pubReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-a.ctx.Done():
			return
		case r := <-a.pubq:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-a.pubq:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(a.ctx, a.opts.PublishTimeout)
		if len(batch) == 1 {
			batch[0].done <- a.client.Publish(ctx, batch[0].channel, batch[0].payload).Err()
			cancel()
			continue
		}
		pipe := a.client.Pipeline()
		cmds := make([]*goredis.IntCmd, len(batch))
		for i, r := range batch {
			cmds[i] = pipe.Publish(ctx, r.channel, r.payload)
		}
		_, err := pipe.Exec(ctx)
		cancel()
		for i, r := range batch {
			e := cmds[i].Err()
			if e == nil && err != nil && !errors.Is(err, goredis.Nil) {
				// Exec reports the first failed command; one without an error of its own
				// was not necessarily sent.
				e = err
			}
			r.done <- e
		}
	}
}

// Subscribe makes this node receive broadcasts to room. The first Subscribe of a channel
// sends SUBSCRIBE and waits for Redis's confirmation (bounded by ctx), so broadcasts that
// other nodes publish after Subscribe returns arrive. When the adapter is disconnected, or
// the connection is lost before Redis confirms, the interest is kept, the subscription is
// made on reconnection, and Subscribe returns an error wrapping [rooms.ErrUnavailable].
func (a *Adapter) Subscribe(ctx context.Context, room string) error {
	ch := a.channelOf(room)
	a.subMu.Lock()
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		a.subMu.Unlock()
		return rooms.ErrClosed
	}
	a.rooms[room]++
	if a.rooms[room] == 1 {
		a.channels[ch]++
	}
	w := a.waiters[ch]
	first := a.channels[ch] == 1 && a.rooms[room] == 1
	if first {
		w = &waiter{done: make(chan struct{})}
		a.waiters[ch] = w
	}
	ps := a.ps
	a.mu.Unlock()
	var err error
	if first {
		if ps == nil {
			err = errDisconnected
		} else {
			err = ps.Subscribe(ctx, ch)
		}
	}
	a.subMu.Unlock()
	if err != nil {
		return fmt.Errorf("rooms/redis: subscribe %q: %w: %w", room, rooms.ErrUnavailable, err)
	}
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
		if w.err != nil {
			return fmt.Errorf("rooms/redis: subscribe %q: %w: %w", room, rooms.ErrUnavailable, w.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
}

// Unsubscribe undoes one Subscribe. When no room of local interest is left on the room's
// channel it sends UNSUBSCRIBE without waiting for the answer. It fails only when the
// adapter is closed: a lost connection is replaced by one without the channel.
func (a *Adapter) Unsubscribe(ctx context.Context, room string) error {
	ch := a.channelOf(room)
	a.subMu.Lock()
	defer a.subMu.Unlock()
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return rooms.ErrClosed
	}
	n := a.rooms[room]
	if n > 1 {
		a.rooms[room] = n - 1
	}
	if n != 1 {
		a.mu.Unlock()
		return nil
	}
	delete(a.rooms, room)
	last := a.channels[ch] == 1
	if last {
		delete(a.channels, ch)
		if w := a.waiters[ch]; w != nil { // a Subscribe still waiting: let it go
			w.release(nil)
			delete(a.waiters, ch)
		}
	} else {
		a.channels[ch]--
	}
	ps := a.ps
	a.mu.Unlock()
	if last && ps != nil {
		_ = ps.Unsubscribe(ctx, ch)
	}
	return nil
}

// Close stops the subscriber and the publisher goroutines, waiting for them until ctx is
// done, and closes the connections to Redis. Publish calls in flight return
// [rooms.ErrClosed].
func (a *Adapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return rooms.ErrClosed
	}
	a.stopped = true
	ps := a.ps
	a.ps = nil
	a.mu.Unlock()
	a.closed.Store(true)
	a.cancel()
	if ps != nil {
		_ = ps.Close() // unblocks run's read
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("rooms/redis: close: %w", ctx.Err())
	}
	a.connected.Store(false)
	return a.client.Close()
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	a.mu.RLock()
	nRooms, nChans, started := len(a.rooms), len(a.channels)+1, a.started
	a.mu.RUnlock()
	return Stats{
		Connected:     started && a.connected.Load() && !a.closed.Load(),
		Rooms:         nRooms,
		Channels:      nChans,
		Published:     a.published.Load(),
		PublishErrors: a.publishErrors.Load(),
		Delivered:     a.delivered.Load(),
		Skipped:       a.skipped.Load(),
		Malformed:     a.badMsgs.Load(),
		Disconnects:   a.disconnects.Load(),
		Reconnects:    a.reconnects.Load(),
		LastOutage:    time.Duration(a.lastOutage.Load()),
	}
}

// NodeID returns this adapter's random node ID in hex, as its log lines show it.
func (a *Adapter) NodeID() string { return fmt.Sprintf("%x", a.node) }
