package nats

import (
	"context"
	"fmt"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/wire"
)

// run is the one delivery goroutine: every subscription feeds a.msgs, in the order the
// connection read the messages, so what one node publishes arrives in order even across
// subjects.
func (a *Adapter) run() {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case m := <-a.msgs:
			a.handle(m.Data)
		}
	}
}

// handle decodes one message and delivers it when it is from another node and for a room
// of local interest. data is the message's own buffer (nats.go allocates one per
// message), so the publication's Data shares it.
func (a *Adapter) handle(data []byte) {
	node, ok := wire.Header(data)
	if !ok {
		a.badMsgs.Add(1)
		return
	}
	if node == a.node {
		a.skipped.Add(1)
		return
	}
	p, err := wire.Decode(data)
	if err != nil {
		a.badMsgs.Add(1)
		return
	}
	a.mu.RLock()
	interested := false
	for _, r := range p.Rooms {
		if a.rooms[r] != nil {
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
	a.deliver(p)
}

// Subscribe makes this node receive broadcasts to room. The first Subscribe of a room sends
// SUB and then waits for a round trip to the server (bounded by ctx and PublishTimeout), so
// broadcasts that other nodes publish after Subscribe returns arrive. When the adapter is
// disconnected, or the round trip fails, the interest is kept, nats.go makes the
// subscription on reconnection, and Subscribe returns an error wrapping
// [rooms.ErrUnavailable]. Before Start, the interest is recorded and subscribed by Start.
func (a *Adapter) Subscribe(ctx context.Context, room string) error {
	a.mu.Lock()
	if a.stopped.Load() {
		a.mu.Unlock()
		return rooms.ErrClosed
	}
	nc := a.nc.Load()
	rs := a.rooms[room]
	if rs == nil {
		rs = &roomSub{}
		a.rooms[room] = rs
		if nc != nil {
			sub, err := nc.ChanSubscribe(a.subjectOf(room), a.msgs)
			if err != nil { // the connection is closed: only Close does that
				delete(a.rooms, room)
				a.mu.Unlock()
				return fmt.Errorf("rooms/nats: subscribe %q: %w", room, err)
			}
			rs.sub = sub
		}
	}
	rs.n++
	confirmed := rs.confirmed
	a.mu.Unlock()
	if nc == nil || confirmed {
		return nil
	}
	if !a.connected.Load() {
		return fmt.Errorf("rooms/nats: subscribe %q: %w: %w", room, rooms.ErrUnavailable, errDisconnected)
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.PublishTimeout)
	defer cancel()
	if err := nc.FlushWithContext(ctx); err != nil {
		if a.stopped.Load() {
			return rooms.ErrClosed
		}
		return fmt.Errorf("rooms/nats: subscribe %q: %w: %w", room, rooms.ErrUnavailable, err)
	}
	a.mu.Lock()
	if a.rooms[room] == rs {
		rs.confirmed = true
	}
	a.mu.Unlock()
	return nil
}

// Unsubscribe undoes one Subscribe. When it undoes the room's last one it sends UNSUB
// without waiting for the server. It fails only when the adapter is closed.
func (a *Adapter) Unsubscribe(ctx context.Context, room string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped.Load() {
		return rooms.ErrClosed
	}
	rs := a.rooms[room]
	if rs == nil {
		return nil
	}
	if rs.n--; rs.n > 0 {
		return nil
	}
	delete(a.rooms, room)
	if rs.sub != nil {
		a.dropped += subDropped(rs.sub)
		_ = rs.sub.Unsubscribe() // while reconnecting, nats.go just forgets it
	}
	return nil
}
