package sockhop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/rooms"
)

// Events of the protocol itself (PROTOCOL.md §9): names beginning with "$" are reserved,
// and Handle refuses them.
const (
	evSubscribe   = "$sub"
	evUnsubscribe = "$unsub"
)

// Error codes of client subscriptions ($sub, PROTOCOL.md §9).
const (
	CodeForbidden    = "forbidden"      // no Channel allows the subscription, or its rule refused it
	CodeTooManyRooms = "too_many_rooms" // Options.MaxRoomsPerSession reached
)

// subRequest is the data of $sub and $unsub.
type subRequest struct {
	Room  string          `json:"room"`
	Since *rooms.Position `json:"since,omitempty"`
}

// subReply is the data of $sub's ack.
type subReply struct {
	Room      string          `json:"room"`
	Recovered *bool           `json:"recovered,omitempty"`
	Pos       *rooms.Position `json:"pos,omitempty"`
}

// catchUp holds, per room a session is catching up on, the broadcasts that reached it
// meanwhile, to queue them after the history's entries (deliver, holdBroadcast).
type catchUp struct {
	active atomic.Bool         // rooms is not empty: deliver takes the slow path
	mu     sync.Mutex          // guards rooms
	rooms  map[string][][]byte // room -> broadcasts held, in order
}

// handleProtocolEvent serves an event whose name begins with "$".
func (s *Session) handleProtocolEvent(ctx context.Context, m *events.Message) {
	var reply any
	var err error
	switch m.Name {
	case evSubscribe:
		reply, err = s.subscribe(ctx, m)
	case evUnsubscribe:
		reply, err = s.unsubscribe(ctx, m)
	default:
		err = &Error{Code: CodeUnknownEvent, Message: "no handler for " + m.Name}
	}
	if m.ID == 0 || errors.Is(err, ErrSessionClosed) {
		return
	}
	if err != nil {
		e, _ := clientError(err)
		_ = s.core.Reply(m.ID, nil, e)
		return
	}
	data, err := json.Marshal(reply)
	if err != nil { // cannot happen: plain types
		_ = s.core.Reply(m.ID, nil, &Error{Code: CodeInternal, Message: "internal error"})
		return
	}
	_ = s.core.Reply(m.ID, data, nil)
}

// decodeSub decodes the data of $sub or $unsub.
func decodeSub(m *events.Message) (subRequest, error) {
	var req subRequest
	if m.B != nil {
		return req, &Error{Code: CodeBadRequest, Message: m.Name + " takes JSON data"}
	}
	if len(m.Data) == 0 || json.Unmarshal(m.Data, &req) != nil {
		return req, &Error{Code: CodeBadRequest, Message: m.Name + ` takes {"room": name}`}
	}
	if err := validRoom(req.Room); err != nil {
		return req, &Error{Code: CodeBadRequest, Message: "invalid room name"}
	}
	return req, nil
}

// subscribe serves $sub: the Channel's rule, the join, and for a durable room the
// catch-up from since, in this order, so that nothing appended meanwhile is missed.
func (s *Session) subscribe(ctx context.Context, m *events.Message) (*subReply, error) {
	req, err := decodeSub(m)
	if err != nil {
		return nil, err
	}
	srv := s.srv
	ch, ok := lookupChannel(*srv.channels.Load(), req.Room)
	if !ok || ch.Subscribe == nil {
		return nil, &Error{Code: CodeForbidden, Message: "no subscriptions to " + req.Room}
	}
	if err := s.runSubscribeRule(ctx, ch.Subscribe, req.Room); err != nil {
		return nil, err
	}
	reply := &subReply{Room: req.Room}
	durable := ch.Class == Durable
	if durable && req.Since != nil {
		s.startCatchUp(req.Room) // before the join: what arrives from then on is held
	}
	if err := s.Join(ctx, req.Room); err != nil {
		s.endCatchUp(req.Room, nil)
		switch {
		case errors.Is(err, ErrTooManyRooms):
			return nil, &Error{Code: CodeTooManyRooms, Message: err.Error()}
		case errors.Is(err, ErrSessionClosed):
			return nil, err
		}
		return nil, &Error{Code: CodeBadRequest, Message: err.Error()}
	}
	if !durable {
		return reply, nil
	}
	if req.Since == nil {
		// The room's latest position: the subscription starts after it.
		_, latest, _, err := srv.hist.Since(ctx, req.Room, rooms.Position{}, 1)
		if err != nil {
			srv.log.Warn("sockhop: reading a room's history", "room", req.Room, "err", err)
			return reply, nil
		}
		reply.Pos = &latest
		return reply, nil
	}
	recovered := false
	reply.Recovered = &recovered
	entries, latest, complete, err := srv.hist.Since(ctx, req.Room, *req.Since, ch.historyOptions().Size)
	if err != nil {
		srv.log.Warn("sockhop: catching up from a room's history", "room", req.Room, "session", s.ID(), "err", err)
		s.endCatchUp(req.Room, nil)
		return reply, nil
	}
	if keep := fitQueue(entries, s.srv.scfg.MaxQueueBytes/2); keep < len(entries) {
		// More than the send queue would take at once: the newest, and not recovered.
		entries, complete = entries[len(entries)-keep:], false
	}
	for _, e := range entries {
		if err := s.core.Send(events.AppendPosition(nil, e.Data, req.Room, latest.Epoch, e.Offset), true); err != nil {
			s.endCatchUp(req.Room, nil)
			return nil, ErrSessionClosed
		}
	}
	s.endCatchUp(req.Room, &latest)
	recovered = complete
	reply.Pos = &latest
	return reply, nil
}

// runSubscribeRule calls a Channel's Subscribe: a *Error passes to the client, any other
// error or a panic is logged and answered "forbidden".
func (s *Session) runSubscribeRule(ctx context.Context, rule func(context.Context, *Session, string) error, room string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.srv.hookPanic("Channel.Subscribe", p, "session", s.ID(), "room", room)
			err = &Error{Code: CodeForbidden, Message: "subscription refused"}
		}
	}()
	if err := rule(ctx, s, room); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		s.srv.log.Info("sockhop: subscription refused", "session", s.ID(), "room", room, "err", err)
		return &Error{Code: CodeForbidden, Message: "subscription refused"}
	}
	return nil
}

// unsubscribe serves $unsub. Only rooms a client may subscribe to may be left from the
// client: the other rooms are the server's to manage.
func (s *Session) unsubscribe(ctx context.Context, m *events.Message) (*subReply, error) {
	req, err := decodeSub(m)
	if err != nil {
		return nil, err
	}
	ch, ok := lookupChannel(*s.srv.channels.Load(), req.Room)
	if !ok || ch.Subscribe == nil {
		return nil, &Error{Code: CodeForbidden, Message: "no subscriptions to " + req.Room}
	}
	if err := s.Leave(ctx, req.Room); err != nil {
		return nil, fmt.Errorf("sockhop: leaving %s: %w", req.Room, err)
	}
	return &subReply{Room: req.Room}, nil
}

// startCatchUp makes deliver hold the broadcasts to room for s.
func (s *Session) startCatchUp(room string) {
	c := &s.catchUp
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms == nil {
		c.rooms = make(map[string][][]byte)
	}
	if _, ok := c.rooms[room]; !ok {
		c.rooms[room] = nil
	}
	c.active.Store(true)
}

// endCatchUp queues the broadcasts held for room, leaving out the durable ones at or
// before latest (the history's entries queued already hold them), and lets the next ones
// through. A nil latest queues them all.
func (s *Session) endCatchUp(room string, latest *rooms.Position) {
	c := &s.catchUp
	c.mu.Lock()
	defer c.mu.Unlock()
	held, ok := c.rooms[room]
	if !ok {
		return
	}
	delete(c.rooms, room)
	for _, b := range held {
		if latest != nil {
			if pos := positionOf(b); pos != nil && pos.Epoch == latest.Epoch && pos.Offset <= latest.Offset {
				continue
			}
		}
		_ = s.core.Send(b, true)
	}
	// Only now may deliver queue directly: a broadcast it queued before the held ones would
	// make the client drop them as older.
	c.active.Store(len(c.rooms) > 0)
}

// holdBroadcast holds data, a broadcast to rs, when s catches up on one of rs, and
// reports whether it did. deliver calls it when catchUp.active is set.
func (s *Session) holdBroadcast(rs []string, data []byte) bool {
	c := &s.catchUp
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rs {
		if held, ok := c.rooms[r]; ok {
			c.rooms[r] = append(held, data)
			return true
		}
	}
	return false
}

// positionOf returns the position of an encoded durable broadcast, nil for another message.
func positionOf(b []byte) *events.Position {
	if !strings.Contains(string(headLine(b)), `"pos"`) {
		return nil
	}
	m, err := events.Decode(headLine(b))
	if err != nil {
		return nil
	}
	return m.Pos
}

// headLine returns the JSON header of an encoded message: the message, or the first line
// of a binary one.
func headLine(b []byte) []byte {
	if i := slices.Index(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// fitQueue returns how many of the newest entries fit in budget bytes of a send queue.
func fitQueue(entries []rooms.Entry, budget int) int {
	n := 0
	for i := len(entries) - 1; i >= 0; i-- {
		budget -= len(entries[i].Data) + 64 // the position, the queue's own cost
		if budget < 0 {
			break
		}
		n++
	}
	return n
}
