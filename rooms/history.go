package rooms

import (
	"context"
	"errors"
	"time"
)

// Position is a place in a room's history: Offset counts the room's durable messages from
// 1, within one Epoch, a name for one life of the history (a history that was lost, by a
// broker restart without persistence or by expiry, starts a new epoch at offset 1). The
// zero Position is "before anything".
type Position struct {
	Epoch  string `json:"e"`
	Offset uint64 `json:"o"`
}

// Entry is one durable message of a room's history: Data as it was appended (one encoded
// sockhop protocol message, without its position), at Offset.
type Entry struct {
	Offset uint64
	Data   []byte
}

// HistoryOptions bound a room's history: at most Size entries, none older than TTL. A
// history with nothing appended for TTL may be forgotten whole (a new epoch follows).
type HistoryOptions struct {
	Size int
	TTL  time.Duration
}

// ErrNoHistory is wrapped by the errors of a [History] that cannot keep histories at all
// (a NATS server without JetStream), as opposed to one that is unreachable for now
// ([ErrUnavailable]).
var ErrNoHistory = errors.New("rooms: no history on this backend")

// History keeps the durable messages of rooms so that a client that lost its session can
// catch up from its last position, on any node (PROTOCOL.md §9). The Redis and NATS
// adapters implement it in their brokers (Redis Streams, JetStream); [NewMemoryHistory]
// keeps it in the process, for one node.
//
// Offsets of a room are assigned by the History, in the order Append calls reach it,
// without gaps: 1, 2, 3, … within an epoch. Implementations must be safe for concurrent
// use by many nodes.
type History interface {
	// Append adds data to room's history, trimmed to opts, and returns its position. The
	// History does not keep data's slice after Append returns.
	Append(ctx context.Context, room string, data []byte, opts HistoryOptions) (Position, error)

	// Since returns room's entries after since.Offset, oldest first, at most limit of them
	// (the newest limit when more are missed; limit ≤ 0 means no limit), and the room's
	// latest position. complete reports that the entries are all that came after since:
	// since.Epoch is the history's epoch (or since is the zero Position and the history has
	// its first entries), none of them was trimmed, and no more than limit were missed. A
	// room with no history has the zero Position as its latest.
	Since(ctx context.Context, room string, since Position, limit int) (entries []Entry, latest Position, complete bool, err error)
}
