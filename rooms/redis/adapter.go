package redis

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/pubq"
	"github.com/sockhop/sockhop/rooms/internal/wire"
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

	// PublishTimeout bounds how long a Publish waits for room in a full publish queue.
	// The writer waits for one pipelined round trip of PUBLISH commands at most
	// PublishTimeout plus two HealthIntervals. Zero means 1s.
	PublishTimeout time.Duration
	// PublishQueue is how many publications may wait for the writer goroutine; a Publish
	// that finds the queue full waits (see [Adapter.Publish]). Zero means 8192.
	PublishQueue int
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
	// Published counts broadcasts Redis accepted. PublishErrors counts Publish calls that
	// returned an error (disconnected, or the queue stayed full); WriteErrors counts
	// broadcasts Publish had queued and Redis did not accept (or that the writer dropped
	// because the connection was lost meanwhile).
	Published, PublishErrors, WriteErrors uint64
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
	node   string // random node ID, wire.NodeIDLen bytes
	allCh  string // channel for broadcasts to several rooms

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup      // writeLoop and run
	pubq   *pubq.Queue[pubReq] // from Publish -> writeLoop

	connected atomic.Bool
	closed    atomic.Bool

	// subMu serialises every change of the subscription set on the wire (SUBSCRIBE,
	// UNSUBSCRIBE, a new connection's resubscription), so the commands Redis sees follow
	// the order of the changes to channels.
	subMu sync.Mutex

	mu       sync.RWMutex
	ps       *goredis.PubSub         // guarded by mu: the live subscriber connection, nil while down
	rooms    map[string]int          // guarded by mu: Subscribe counts per room
	channels map[string]int          // guarded by mu: rooms of interest per channel
	waiters  map[string]*waiter      // guarded by mu: channels awaiting Redis's confirmation
	deliver  func(rooms.Publication) // set once by Start, read by run
	started  bool                    // guarded by mu
	stopped  bool                    // guarded by mu: Close has begun

	published, publishErrors    atomic.Uint64
	writeErrors                 pubq.WriteErrors
	delivered, skipped, badMsgs atomic.Uint64
	disconnects, reconnects     atomic.Uint64
	lastOutage                  atomic.Int64
}

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
	pubq.Defaults(&opts.PublishTimeout, &opts.DialTimeout, &opts.MinBackoff, &opts.MaxBackoff,
		&opts.HealthInterval, &opts.PublishQueue)

	ro.DialTimeout = opts.DialTimeout
	ro.DialerRetries = 1 // the adapter retries with its own back-off
	ro.MaxRetries = -1   // a retried PUBLISH could be delivered twice
	ro.ReadTimeout = writeBound(opts)
	ro.WriteTimeout = writeBound(opts)
	ro.ContextTimeoutEnabled = true
	ro.Protocol = 2 // plain RESP2 Pub/Sub, as every Redis since 2.0 speaks it
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	log := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	node := wire.NewNodeID()
	ctx, cancel := context.WithCancel(context.Background())
	a := &Adapter{
		opts:     opts,
		client:   goredis.NewClient(ro),
		node:     node,
		allCh:    opts.KeyPrefix + ":all",
		ctx:      ctx,
		cancel:   cancel,
		pubq:     pubq.NewQueue[pubReq](opts.PublishQueue, opts.PublishTimeout, ctx.Done()),
		rooms:    make(map[string]int),
		channels: make(map[string]int),
		waiters:  make(map[string]*waiter),
	}
	a.log = log.With("component", "rooms/redis", "addr", ro.Addr, "node", fmt.Sprintf("%x", node))
	a.writeErrors.Log, a.writeErrors.Msg = a.log, "rooms/redis: queued broadcasts not sent"
	a.connected.Store(true) // until Start learns otherwise, Publish tries the network
	a.wg.Add(1)
	go a.writeLoop()
	return a, nil
}

// writeBound is how long the writer waits for one pipelined round trip: PublishTimeout,
// plus the two HealthIntervals in which the subscriber notices a hung server anyway. A
// busy or CPU-starved Redis (or node) that answers late is not a lost connection: giving
// up sooner would drop broadcasts that Redis may well have delivered.
func writeBound(o Options) time.Duration { return o.PublishTimeout + 2*o.HealthInterval }

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

// Close stops the subscriber and the publisher goroutines, waiting for them until ctx is
// done, and closes the connections to Redis. The writer sends what is still queued in one
// last round trip (bounded by PublishTimeout) before it stops; Publish calls waiting for
// room in the queue return [rooms.ErrClosed].
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
		WriteErrors:   a.writeErrors.Load(),
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
