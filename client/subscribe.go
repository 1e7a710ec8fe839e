package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
)

// Position is a place in a durable room's history (PROTOCOL.md §9): Offset counts the
// room's durable messages within one Epoch. JSON {"e": epoch, "o": offset}.
type Position = events.Position

// SubscribeResult is the outcome of a subscription ($sub, PROTOCOL.md §9).
type SubscribeResult struct {
	// Room is the room subscribed to.
	Room string
	// Recovered reports, for a durable room subscribed to again from a position (after a
	// new session, or with Options.Positions), that every message after it was delivered
	// before the result: nothing was missed. False when the history no longer had them
	// all (trimmed, expired, or a new epoch), or for a subscription without a position.
	Recovered bool
	// Pos is the room's latest position when it is a durable room, nil otherwise.
	Pos *Position
}

// subReply is the data of $sub's ack.
type subReply struct {
	Room      string    `json:"room"`
	Recovered *bool     `json:"recovered"`
	Pos       *Position `json:"pos"`
}

// Subscribe asks the server to add the session to room: the server's Channel rule for the
// room decides (an *events.ErrorBody with code "forbidden", "bad_request" or
// "too_many_rooms", or the rule's own, when it refuses). The subscription is the client's
// to keep: after every new session (not after a resume, which keeps the server's rooms)
// the client subscribes again by itself, from the room's position for a durable room, and
// reports each result to the OnSubscribe functions.
//
// When the client knows a position for room (from an earlier subscription, or from
// Options.Positions), the server first sends the durable messages after it, then answers:
// Recovered says whether they were all still there.
func (c *Client) Subscribe(ctx context.Context, room string) (SubscribeResult, error) {
	core, err := c.current()
	if err != nil {
		return SubscribeResult{}, err
	}
	res, err := c.subscribeOn(ctx, core, room)
	if err != nil {
		return res, err
	}
	c.mu.Lock()
	if c.subs == nil {
		c.subs = make(map[string]bool)
	}
	c.subs[room] = true
	c.mu.Unlock()
	return res, nil
}

// subscribeOn sends $sub for room on core, with the room's position as since when the
// client has one, and takes the position of the answer when it has none.
func (c *Client) subscribeOn(ctx context.Context, core *session.Session, room string) (SubscribeResult, error) {
	req := struct {
		Room  string    `json:"room"`
		Since *Position `json:"since,omitempty"`
	}{Room: room}
	c.mu.Lock()
	if p, ok := c.pos[room]; ok {
		req.Since = &p
	}
	c.mu.Unlock()
	data, err := json.Marshal(req)
	if err != nil {
		return SubscribeResult{}, err
	}
	reply, err := core.Request(ctx, "$sub", data)
	if err != nil {
		return SubscribeResult{Room: room}, fmt.Errorf("sockhop/client: subscribe %s: %w", room, err)
	}
	var r subReply
	if err := json.Unmarshal(reply, &r); err != nil {
		return SubscribeResult{Room: room}, fmt.Errorf("sockhop/client: subscribe %s: bad answer %s", room, reply)
	}
	res := SubscribeResult{Room: room, Pos: r.Pos, Recovered: r.Recovered != nil && *r.Recovered}
	if r.Pos != nil {
		// The messages the server sent before its answer set the position as they are
		// handled; a subscription that had none starts from the answer's.
		c.mu.Lock()
		if _, ok := c.pos[room]; !ok {
			if c.pos == nil {
				c.pos = make(map[string]Position)
			}
			c.pos[room] = *r.Pos
		}
		c.mu.Unlock()
	}
	return res, nil
}

// Unsubscribe asks the server to take the session out of room, and stops subscribing to
// it again after a new session. The room's position is forgotten. Unsubscribing a room
// the session is not in is no error.
func (c *Client) Unsubscribe(ctx context.Context, room string) error {
	c.mu.Lock()
	delete(c.subs, room)
	delete(c.pos, room)
	c.mu.Unlock()
	core, err := c.current()
	if err != nil {
		return err
	}
	data, err := json.Marshal(struct {
		Room string `json:"room"`
	}{room})
	if err != nil {
		return err
	}
	if _, err := core.Request(ctx, "$unsub", data); err != nil {
		return fmt.Errorf("sockhop/client: unsubscribe %s: %w", room, err)
	}
	return nil
}

// OnSubscribe adds f to the functions run with the result of every automatic
// subscription: those the client makes again after a new session, on a goroutine of the
// client's, one room after another. An error that is an
// *events.ErrorBody is the server's refusal; the client then stops subscribing to that
// room. Other errors (the session ended) leave the subscription for the next session.
func (c *Client) OnSubscribe(f func(SubscribeResult, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onSubscribe = append(c.onSubscribe, f)
}

// Positions returns the position of every durable room the client has one for: the last
// durable message it took from each (or where its subscription started). Save it to
// carry the positions over to a new process (Options.Positions).
func (c *Client) Positions() map[string]Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.pos)
}

// resubscribe subscribes again, on core, a new session, to every room the client
// subscribed to, in the background, and reports the results to the OnSubscribe
// functions. It returns at once; the goroutine ends with the answers or with core.
func (c *Client) resubscribe(core *session.Session) {
	c.mu.Lock()
	rs := slices.Sorted(maps.Keys(c.subs))
	c.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	go func() { // ends with the answers, or with core (Request returns)
		for _, room := range rs {
			res, err := c.subscribeOn(core.Context(), core, room)
			var refused *events.ErrorBody
			if errors.As(err, &refused) {
				c.mu.Lock()
				delete(c.subs, room)
				c.mu.Unlock()
			}
			c.mu.Lock()
			fs := c.onSubscribe
			c.mu.Unlock()
			for _, f := range fs {
				f(res, err)
			}
		}
	}()
}

// takePosition applies the position rules to a durable message for room at pos
// (PROTOCOL.md §9): it reports false for a duplicate (the same epoch, an offset the client
// has), and otherwise makes pos the room's position.
func (c *Client) takePosition(room string, pos Position) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pos[room]; ok && p.Epoch == pos.Epoch && pos.Offset <= p.Offset {
		return false
	}
	if c.pos == nil {
		c.pos = make(map[string]Position)
	}
	c.pos[room] = pos
	return true
}
