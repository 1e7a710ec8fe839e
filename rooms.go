package sockhop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/cluster"
	"github.com/sockhop/sockhop/rooms"
)

// ErrTooManyRooms is returned by Join past Options.MaxRoomsPerSession.
var ErrTooManyRooms = errors.New("sockhop: too many rooms for one session")

// Join adds the session to room. Rooms are server state: the client does not need to
// join again after a reconnect of the same session, and the session leaves every room
// when it ends. With a multi-node Adapter, a room's first member on this node subscribes
// the node to the room's broadcasts.
func (s *Session) Join(ctx context.Context, room string) error {
	if err := validRoom(room); err != nil {
		return err
	}
	srv := s.srv
	if !srv.rooms.Has(room, s) && len(srv.rooms.RoomsOf(s)) >= srv.opts.MaxRoomsPerSession {
		return ErrTooManyRooms
	}
	added, created := srv.rooms.Join(room, s)
	if added {
		srv.node.Local(cluster.Op{Kind: cluster.OpJoin, SID: s.ID(), Room: room})
	}
	if s.core.Err() != nil { // ended while joining: undo, the session's LeaveAll may have run
		srv.leave(ctx, room, s)
		return ErrSessionClosed
	}
	if created {
		if err := srv.callAdapter("Subscribe", func() error { return srv.adapter.Subscribe(ctx, room) }); err != nil {
			// The adapter keeps the room and subscribes it again when its backend is back.
			srv.log.Warn("rooms: subscribe failed", "room", room, "err", err)
		}
	}
	return nil
}

// Leave removes the session from room.
func (s *Session) Leave(ctx context.Context, room string) error {
	s.srv.leave(ctx, room, s)
	return nil
}

// Rooms returns the rooms the session is in, sorted.
func (s *Session) Rooms() []string { return s.srv.rooms.RoomsOf(s) }

func (srv *Server) leave(ctx context.Context, room string, s *Session) {
	removed, emptied := srv.rooms.Leave(room, s)
	if removed {
		srv.node.Local(cluster.Op{Kind: cluster.OpLeave, SID: s.ID(), Room: room})
	}
	if emptied {
		srv.order.forget(room)
		if err := srv.callAdapter("Unsubscribe", func() error { return srv.adapter.Unsubscribe(ctx, room) }); err != nil {
			srv.log.Warn("rooms: unsubscribe failed", "room", room, "err", err)
		}
	}
}

// leaveAll takes a session that ended out of its rooms, and out of the cluster.
func (srv *Server) leaveAll(s *Session) {
	emptied := srv.rooms.LeaveAll(s)
	srv.node.Local(cluster.Op{Kind: cluster.OpEnd, SID: s.ID()})
	for _, room := range emptied {
		srv.order.forget(room)
		if err := srv.callAdapter("Unsubscribe", func() error { return srv.adapter.Unsubscribe(context.Background(), room) }); err != nil {
			srv.log.Warn("rooms: unsubscribe failed", "room", room, "err", err)
		}
	}
}

// Rooms returns the rooms that have members on this server, sorted.
func (srv *Server) Rooms() []string { return srv.rooms.Rooms() }

// ErrDurableRooms is returned by [Broadcast.Emit] for a Durable broadcast that does not
// address exactly one room: a durable message has its position in one room's history.
var ErrDurableRooms = errors.New("sockhop: a durable broadcast addresses exactly one room")

// publisher is where a Broadcast goes: a *Server (its members here, the other nodes through
// its Adapter) or a *Publisher (the nodes through its Adapter only).
type publisher interface {
	// deliverLocal queues p for the members on this process; it must not block.
	deliverLocal(p rooms.Publication)
	// adapterPublish hands p to the other nodes.
	adapterPublish(ctx context.Context, p rooms.Publication) error
	// history is where durable messages are appended; nil when there is none.
	history() rooms.History
	// channelFor returns the Channel of room (the zero Channel when none matches).
	channelFor(room string) Channel
	// draining reports that the publisher is closing: Emit sends nothing.
	draining() bool
}

var _ publisher = (*Server)(nil)

// Broadcast addresses the members of one or more rooms. Build it with [Server.To]; each
// method returns a new Broadcast, so one may be kept and reused.
type Broadcast struct {
	pub      publisher
	rooms    []string
	except   []string
	class    Class
	classSet bool // Class was called: class overrides the rooms' Channel.Class
	// users, when not nil, makes it a broadcast to users ([Server.ToUser], publish.go).
	users []string
}

// To addresses the members of rooms (a session in several of them gets a message once).
func (srv *Server) To(rooms ...string) *Broadcast {
	return &Broadcast{pub: srv, rooms: slices.Clone(rooms)}
}

// To adds rooms to the broadcast.
func (b *Broadcast) To(rooms ...string) *Broadcast {
	c := *b
	c.rooms = append(slices.Clip(b.rooms), rooms...)
	return &c
}

// Except leaves out the sessions with the given ids (typically the sender).
func (b *Broadcast) Except(ids ...string) *Broadcast {
	c := *b
	c.except = append(slices.Clip(b.except), ids...)
	return &c
}

// Class sets how the broadcast is delivered, overriding the Channel.Class of its rooms.
// Without it, a broadcast has its rooms' Channel.Class when they all have the same one,
// and is Default otherwise.
func (b *Broadcast) Class(c Class) *Broadcast {
	cp := *b
	cp.class, cp.classSet = c, true
	return &cp
}

// effectiveClass returns the class the broadcast is delivered with.
func (b *Broadcast) effectiveClass() Class {
	if b.classSet || len(b.rooms) == 0 {
		return b.class
	}
	c := b.pub.channelFor(b.rooms[0]).Class
	for _, r := range b.rooms[1:] {
		if b.pub.channelFor(r).Class != c {
			return Default
		}
	}
	return c
}

// Emit sends event name with v to every addressed session, on this node and, through the
// Adapter, on the others. The message is encoded once and the same bytes are queued for
// every member; Emit never waits for a member. Local delivery happens even when the
// adapter fails; the error then says that other nodes may not have the message. Once
// Shutdown has begun, Emit sends nothing and returns ErrServerClosed.
//
// A Volatile broadcast is dropped for each member whose session is slow or has no
// transport at the moment. A Durable one is first appended to its room's history
// (Options.History), and members get it with the room and its position; it must address
// exactly one room (else ErrDurableRooms), and when the history fails nothing is sent and
// Emit returns the error: a durable message is not sent half-way, the caller may retry.
func (b *Broadcast) Emit(ctx context.Context, name string, v any) error {
	_, err := b.emit(ctx, name, v)
	return err
}

// emit is Emit; it also returns the position of a durable broadcast (the publish endpoint
// answers it).
func (b *Broadcast) emit(ctx context.Context, name string, v any) (rooms.Position, error) {
	var pos rooms.Position
	if b.pub.draining() {
		return pos, ErrServerClosed
	}
	if b.users != nil {
		return pos, b.emitUsers(ctx, name, v) // publish.go
	}
	if len(b.rooms) == 0 {
		return pos, nil
	}
	for _, r := range b.rooms {
		if err := validRoom(r); err != nil {
			return pos, fmt.Errorf("sockhop: emit %s: %w", name, err)
		}
	}
	class := b.effectiveClass()
	if class == Durable && !oneRoom(b.rooms) {
		return pos, fmt.Errorf("sockhop: emit %s: %w", name, ErrDurableRooms)
	}
	msg, err := encodeEvent(name, v, 0)
	if err != nil {
		return pos, fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	switch class {
	case Volatile:
		msg = markVolatile(msg)
	case Durable:
		h := b.pub.history()
		if h == nil {
			return pos, fmt.Errorf("sockhop: emit %s: durable: %w", name, rooms.ErrNoHistory)
		}
		room := b.rooms[0]
		if o, ok := b.pub.(durableOrderer); ok {
			// Offsets are handed out in the order appends reach the history: keep that order
			// on the way out too, so that other nodes get them in order (their order gate,
			// durable_order.go, then need not wait for a gap to close).
			mu := o.durableLock(room)
			mu.Lock()
			defer mu.Unlock()
		}
		if msg, pos, err = appendDurable(ctx, h, room, msg, b.pub.channelFor(room).historyOptions()); err != nil {
			return pos, fmt.Errorf("sockhop: emit %s: appending to the history of %s: %w", name, room, err)
		}
	}
	b.pub.deliverLocal(rooms.Publication{Rooms: b.rooms, Except: b.except, Data: msg})
	if err := b.pub.adapterPublish(ctx, rooms.Publication{Rooms: b.rooms, Except: b.except, Data: msg}); err != nil {
		return pos, fmt.Errorf("sockhop: emit %s to other nodes: %w", name, err)
	}
	return pos, nil
}

// oneRoom reports whether rs names exactly one room (maybe more than once).
func oneRoom(rs []string) bool {
	for _, r := range rs[1:] {
		if r != rs[0] {
			return false
		}
	}
	return len(rs) > 0
}

// volatilePrefix starts the bytes of a Volatile broadcast between nodes: the message with
// a "vol" field after its type, which the receiving node takes off (clients never see
// it; a node that does not know it passes it on, and clients ignore unknown fields).
const volatilePrefix = `{"t":"ev","vol":1,`

// markVolatile returns an encoded event marked as volatile (volatilePrefix).
func markVolatile(msg []byte) []byte {
	const ev = `{"t":"ev",`
	if !bytes.HasPrefix(msg, []byte(ev)) {
		return msg
	}
	return append([]byte(volatilePrefix), msg[len(ev):]...)
}

// unmarkVolatile reports whether data is a marked volatile event, and returns it without
// the mark.
func unmarkVolatile(data []byte) ([]byte, bool) {
	if !bytes.HasPrefix(data, []byte(volatilePrefix)) {
		return data, false
	}
	return append([]byte(`{"t":"ev",`), data[len(volatilePrefix):]...), true
}

// durableOrderer is a publisher that serialises the durable broadcasts of each room from
// their append to their publish, so that they leave in the order of their offsets.
type durableOrderer interface {
	durableLock(room string) *sync.Mutex
}

// durableLock returns the lock of room's durable broadcasts: one of a fixed set of
// stripes, by the room's hash.
func (srv *Server) durableLock(room string) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(room); i++ {
		h = (h ^ uint32(room[i])) * 16777619
	}
	return &srv.durableMu[h%uint32(len(srv.durableMu))]
}

// deliverLocal queues p for this node's members (publisher).
func (srv *Server) deliverLocal(p rooms.Publication) { srv.deliver(p) }

// adapterPublish hands p to the other nodes through the Adapter (publisher).
func (srv *Server) adapterPublish(ctx context.Context, p rooms.Publication) error {
	start := time.Now()
	err := srv.callAdapter("Publish", func() error { return srv.adapter.Publish(ctx, p) })
	if srv.obs != nil {
		srv.obs.AdapterPublish(srv.broker, time.Since(start), err)
	}
	return err
}

// history returns the server's History of durable messages (publisher).
func (srv *Server) history() rooms.History { return srv.hist }

// deliver queues a broadcast for the local members; it is also the adapter's delivery
// function for broadcasts from other nodes, so it must not block. It does not panic into
// the adapter's goroutine: a panic (a publication it cannot handle) is logged and
// that publication dropped.
func (srv *Server) deliver(p rooms.Publication) {
	if len(p.Rooms) == 1 && p.Rooms[0] == cluster.Room {
		srv.node.Receive(p.Data)
		return
	}
	if len(p.Rooms) == 1 && p.Rooms[0] == usersRoom {
		srv.deliverUsers(p) // publish.go
		return
	}
	defer func() {
		if r := recover(); r != nil {
			srv.hookPanic("deliver", r, "rooms", p.Rooms)
		}
	}()
	data, volatile := unmarkVolatile(p.Data)
	if volatile {
		srv.deliverEach(p, data, true)
		return
	}
	if len(p.Rooms) == 1 {
		if room, pos, ok := events.PositionOf(data); ok && room == p.Rooms[0] {
			if srv.rooms.Count(room) == 0 {
				return // nobody here: nothing to hold for anyone who joins later
			}
			srv.order.admit(room, pos, rooms.Publication{Rooms: p.Rooms, Except: p.Except, Data: data})
			return
		}
	}
	srv.deliverEach(p, data, false)
}

// deliverNow queues a durable broadcast the order gate hands out (durable_order.go).
func (srv *Server) deliverNow(p rooms.Publication) {
	defer func() {
		if r := recover(); r != nil {
			srv.hookPanic("deliver", r, "rooms", p.Rooms)
		}
	}()
	srv.deliverEach(p, p.Data, false)
}

// deliverEach queues data for the members of p's rooms but p's exceptions.
func (srv *Server) deliverEach(p rooms.Publication, data []byte, volatile bool) {
	n := 0
	srv.rooms.Each(p.Rooms, func(s *Session) {
		if len(p.Except) > 0 && slices.Contains(p.Except, s.ID()) {
			return
		}
		n++
		if volatile {
			s.core.SendVolatile(data)
			return
		}
		if s.catchUp.active.Load() && s.holdBroadcast(p.Rooms, data) {
			return // queued after the history's entries of its $sub
		}
		_ = s.core.Send(data, true) // a full queue closes that session only
	})
	if srv.obs != nil {
		srv.obs.Broadcast(n)
	}
}

// callAdapter calls f, a method of the app's Adapter, on a server goroutine: a panic is
// logged with its stack and returned as an error instead of ending the process.
func (srv *Server) callAdapter(method string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sockhop: Adapter.%s: %w", method, srv.hookPanic("Adapter."+method, p))
		}
	}()
	return f()
}
