package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

var errStarted = errors.New("rooms: adapter already started")

var (
	_ Adapter = (*memAdapter)(nil)
	_ Adapter = (*busAdapter)(nil)
)

// NewMemory returns the single-process Adapter, a server's default: there is no other node,
// so Publish has nothing to send and returns nil at once, and nothing is ever delivered.
func NewMemory() Adapter { return &memAdapter{} }

type memAdapter struct {
	mu      sync.Mutex
	started bool // guarded by mu
	closed  bool // guarded by mu
}

func (a *memAdapter) check() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	return nil
}

func (a *memAdapter) Start(ctx context.Context, deliver func(Publication)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return ErrClosed
	case a.started:
		return errStarted
	}
	a.started = true
	return nil
}

func (a *memAdapter) Publish(ctx context.Context, p Publication) error   { return a.check() }
func (a *memAdapter) Subscribe(ctx context.Context, room string) error   { return a.check() }
func (a *memAdapter) Unsubscribe(ctx context.Context, room string) error { return a.check() }

func (a *memAdapter) Close(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	a.closed = true
	return nil
}

// busQueueLimit is how many undelivered broadcasts a bus adapter holds before it drops new
// ones, like a Redis subscriber whose output buffer overflows.
const busQueueLimit = 1 << 16

// MemoryBus connects several in-process Adapters as if they were nodes sharing one Redis,
// so tests can run two or more Servers in one process that share rooms. A broadcast
// published by one adapter of the bus is delivered to every other adapter of the bus that
// is subscribed to one of its rooms, asynchronously, on that adapter's own goroutine, in
// publish order. It is meant for tests and single-binary demos.
//
// All methods may be called concurrently.
type MemoryBus struct {
	mu    sync.Mutex
	peers []*busAdapter // guarded by mu
	down  bool          // guarded by mu
}

// NewMemoryBus returns a bus with no adapters.
func NewMemoryBus() *MemoryBus { return &MemoryBus{} }

// Adapter returns a new adapter (a new "node") attached to the bus.
func (bus *MemoryBus) Adapter() Adapter {
	a := &busAdapter{
		bus:    bus,
		rooms:  make(map[string]int),
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	bus.mu.Lock()
	bus.peers = append(bus.peers, a)
	bus.mu.Unlock()
	return a
}

// SetDown simulates a backend outage: while down, Publish and Subscribe of every adapter on
// the bus return an error wrapping [ErrUnavailable] and nothing crosses between adapters
// (subscriptions are kept, as a reconnecting adapter would restore them).
func (bus *MemoryBus) SetDown(down bool) {
	bus.mu.Lock()
	bus.down = down
	bus.mu.Unlock()
}

type busAdapter struct {
	bus    *MemoryBus
	notify chan struct{} // cap 1: "queue is not empty"
	stop   chan struct{} // closed by Close
	done   chan struct{} // closed when the delivery goroutine ends (or by Close if never started)

	mu      sync.Mutex
	rooms   map[string]int // guarded by mu: subscription counts
	queue   []Publication  // guarded by mu: from publishers -> run
	dropped int            // guarded by mu
	started bool           // guarded by mu
	closed  bool           // guarded by mu
}

func (a *busAdapter) Start(ctx context.Context, deliver func(Publication)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.closed:
		return ErrClosed
	case a.started:
		return errStarted
	}
	a.started = true
	go a.run(deliver)
	return nil
}

func (a *busAdapter) run(deliver func(Publication)) {
	defer close(a.done)
	var batch []Publication
	for {
		select {
		case <-a.stop:
			return
		case <-a.notify:
		}
		a.mu.Lock()
		batch, a.queue = a.queue, batch[:0]
		a.mu.Unlock()
		for i, p := range batch {
			select {
			case <-a.stop:
				return
			default:
			}
			deliver(p)
			batch[i] = Publication{}
		}
	}
}

func (a *busAdapter) Publish(ctx context.Context, p Publication) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return ErrClosed
	}
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	if a.bus.down {
		return fmt.Errorf("rooms: memory bus publish: %w", ErrUnavailable)
	}
	// One private copy for all receivers: publishers may reuse their slices afterwards.
	c := Publication{Rooms: slices.Clone(p.Rooms), Except: slices.Clone(p.Except), Data: slices.Clone(p.Data)}
	for _, peer := range a.bus.peers {
		if peer != a {
			peer.offer(c)
		}
	}
	return nil
}

// offer queues p when a is subscribed to one of its rooms. The caller holds bus.mu.
func (a *busAdapter) offer(p Publication) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || !a.started {
		return
	}
	if !slices.ContainsFunc(p.Rooms, func(r string) bool { return a.rooms[r] > 0 }) {
		return
	}
	if len(a.queue) >= busQueueLimit {
		a.dropped++
		return
	}
	a.queue = append(a.queue, p)
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

func (a *busAdapter) Subscribe(ctx context.Context, room string) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.rooms[room]++
	a.mu.Unlock()
	a.bus.mu.Lock()
	down := a.bus.down
	a.bus.mu.Unlock()
	if down {
		return fmt.Errorf("rooms: memory bus subscribe %q: %w", room, ErrUnavailable)
	}
	return nil
}

func (a *busAdapter) Unsubscribe(ctx context.Context, room string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if n := a.rooms[room]; n > 1 {
		a.rooms[room] = n - 1
	} else {
		delete(a.rooms, room)
	}
	return nil
}

func (a *busAdapter) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.closed = true
	started := a.started
	a.queue = nil
	a.mu.Unlock()

	a.bus.mu.Lock()
	a.bus.peers = slices.DeleteFunc(a.bus.peers, func(p *busAdapter) bool { return p == a })
	a.bus.mu.Unlock()

	close(a.stop)
	if !started {
		return nil
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rooms: memory bus close: %w", ctx.Err())
	}
}
