package sockhop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/sockhop/sockhop/rooms"
)

// PublisherOptions configure a [Publisher].
type PublisherOptions struct {
	// Adapter is the broker connection the Publisher publishes through: an adapter of the
	// same broker, with the same prefix, as the nodes' (rooms/redis, rooms/nats, or a
	// rooms.MemoryBus's in one process). Required. NewPublisher starts it; Close closes it.
	Adapter rooms.Adapter
	// History keeps the durable broadcasts' histories: the nodes' Options.History. Nil
	// means the Adapter's when it implements rooms.History (the Redis and NATS ones do);
	// without one, a Durable Emit fails.
	History rooms.History
	// Logger receives log lines. Nil means silent.
	Logger *slog.Logger
}

// Publisher emits to the rooms and users of a cluster from a process that serves no
// clients (a cron job, a worker, another service): its broadcasts go through the broker
// to every node, which delivers them to its members as it delivers its own. Build it with
// [NewPublisher]. Rooms configured by [Server.Channel] on the nodes are configured the
// same way on the Publisher with [Publisher.Channel], for the class and the history
// bounds of its broadcasts.
//
// All methods may be called concurrently.
type Publisher struct {
	adapter rooms.Adapter
	hist    rooms.History // nil: none
	log     *slog.Logger

	mu     sync.Mutex
	rules  []channelRule // longest prefix first; guarded by mu
	closed bool          // guarded by mu
}

// NewPublisher starts opts.Adapter and returns a Publisher that publishes through it.
func NewPublisher(ctx context.Context, opts PublisherOptions) (*Publisher, error) {
	if opts.Adapter == nil {
		return nil, errors.New("sockhop: NewPublisher: no Adapter")
	}
	p := &Publisher{adapter: opts.Adapter, hist: opts.History, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.hist == nil {
		if h, ok := opts.Adapter.(rooms.History); ok {
			p.hist = h
		}
	}
	// A Publisher subscribes to no room, so nothing is delivered to it.
	if err := p.callAdapter("Start", func() error { return p.adapter.Start(ctx, func(rooms.Publication) {}) }); err != nil {
		return nil, fmt.Errorf("sockhop: starting the publisher's adapter: %w", err)
	}
	return p, nil
}

// To addresses the members of rooms on every node, as [Server.To] does.
func (p *Publisher) To(rooms ...string) *Broadcast {
	return &Broadcast{pub: p, rooms: slices.Clone(rooms)}
}

// ToUser addresses every session of the users with the given ids (Identity.UserID), on
// every node, as [Server.ToUser] does.
func (p *Publisher) ToUser(ids ...string) *Broadcast {
	return (&Broadcast{pub: p}).toUsers(ids)
}

// Channel configures, for this Publisher's broadcasts, the rooms whose names begin with
// prefix, as [Server.Channel] does for a node's: give it the nodes' Channels, so that a
// broadcast's class (when it chooses none) and a durable room's history bounds are the
// nodes'. Subscribe is not used here. Call it before publishing.
func (p *Publisher) Channel(prefix string, ch Channel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = withRule(p.rules, prefix, ch)
}

// Close stops the Publisher and closes its Adapter, waiting at most until ctx is done.
// Emit returns ErrServerClosed afterwards.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.callAdapter("Close", func() error { return p.adapter.Close(ctx) })
	if errors.Is(err, rooms.ErrClosed) {
		return nil
	}
	return err
}

// callAdapter calls f, a method of the app's Adapter: a panic is logged and returned as an
// error.
func (p *Publisher) callAdapter(method string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("sockhop: Adapter."+method+" panicked", "panic", r)
			err = fmt.Errorf("sockhop: Adapter.%s panicked: %v", method, r)
		}
	}()
	return f()
}

// The Publisher's side of a Broadcast (publisher): it has no members of its own.

var _ publisher = (*Publisher)(nil)

func (p *Publisher) deliverLocal(rooms.Publication) {}

func (p *Publisher) adapterPublish(ctx context.Context, pub rooms.Publication) error {
	return p.callAdapter("Publish", func() error { return p.adapter.Publish(ctx, pub) })
}

func (p *Publisher) history() rooms.History { return p.hist }

func (p *Publisher) channelFor(room string) Channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, _ := lookupChannel(p.rules, room)
	return ch
}

func (p *Publisher) draining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
