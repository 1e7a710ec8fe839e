package sockhop

import (
	"context"
	"fmt"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/rooms"
)

// Class is how a broadcast is delivered (PROTOCOL.md §9, "Delivery classes").
type Class int

const (
	// Default messages are queued for each member and kept for its session's resume
	// window, as every message of a session is.
	Default Class = iota
	// Volatile messages are dropped for a member whose session is slow (its queue holds
	// more than a little) or has no transport at the moment, never queued for it or kept
	// for a resume: cursor moves, typing indicators.
	Volatile
	// Durable messages are also appended to the room's history (Options.History), with a
	// position that clients keep: a client that comes back after its session could not be
	// resumed, on any node, catches up from there and is told whether it recovered
	// everything.
	Durable
)

// String returns "default", "volatile" or "durable".
func (c Class) String() string {
	switch c {
	case Volatile:
		return "volatile"
	case Durable:
		return "durable"
	case Default:
		return "default"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Default bounds of a room's history (Channel.HistorySize, Channel.HistoryTTL).
const (
	DefaultHistorySize = 100
	DefaultHistoryTTL  = 10 * time.Minute
)

// appendDurable appends msg (an encoded ev) to room's history in h and returns it with its
// room and position, as members get it.
func appendDurable(ctx context.Context, h rooms.History, room string, msg []byte, opts rooms.HistoryOptions) ([]byte, rooms.Position, error) {
	pos, err := h.Append(ctx, room, msg, opts)
	if err != nil {
		return nil, rooms.Position{}, err
	}
	return events.AppendPosition(nil, msg, room, pos.Epoch, pos.Offset), pos, nil
}
