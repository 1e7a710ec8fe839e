package sockhop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
		if err := srv.callAdapter("Unsubscribe", func() error { return srv.adapter.Unsubscribe(context.Background(), room) }); err != nil {
			srv.log.Warn("rooms: unsubscribe failed", "room", room, "err", err)
		}
	}
}

// Rooms returns the rooms that have members on this server, sorted.
func (srv *Server) Rooms() []string { return srv.rooms.Rooms() }

// Broadcast addresses the members of one or more rooms. Build it with [Server.To]; each
// method returns a new Broadcast, so one may be kept and reused.
type Broadcast struct {
	srv    *Server
	rooms  []string
	except []string
}

// To addresses the members of rooms (a session in several of them gets a message once).
func (srv *Server) To(rooms ...string) *Broadcast {
	return &Broadcast{srv: srv, rooms: slices.Clone(rooms)}
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

// Emit sends event name with v to every addressed session, on this node and, through the
// Adapter, on the others. The message is encoded once and the same bytes are queued for
// every member; Emit never waits for a member. Local delivery happens even when the
// adapter fails; the error then says that other nodes may not have the message. Once
// Shutdown has begun, Emit sends nothing and returns ErrServerClosed.
func (b *Broadcast) Emit(ctx context.Context, name string, v any) error {
	if b.srv.isDraining() {
		return ErrServerClosed
	}
	if len(b.rooms) == 0 {
		return nil
	}
	for _, r := range b.rooms {
		if err := validRoom(r); err != nil {
			return fmt.Errorf("sockhop: emit %s: %w", name, err)
		}
	}
	msg, err := encodeEvent(name, v, 0)
	if err != nil {
		return fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	b.srv.deliver(rooms.Publication{Rooms: b.rooms, Except: b.except, Data: msg})
	pub := rooms.Publication{Rooms: b.rooms, Except: b.except, Data: msg}
	start := time.Now()
	err = b.srv.callAdapter("Publish", func() error { return b.srv.adapter.Publish(ctx, pub) })
	if b.srv.obs != nil {
		b.srv.obs.AdapterPublish(b.srv.broker, time.Since(start), err)
	}
	if err != nil {
		return fmt.Errorf("sockhop: emit %s to other nodes: %w", name, err)
	}
	return nil
}

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
	n := 0
	srv.rooms.Each(p.Rooms, func(s *Session) {
		if len(p.Except) > 0 && slices.Contains(p.Except, s.ID()) {
			return
		}
		n++
		_ = s.core.Send(p.Data, true) // a full queue closes that session only
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
