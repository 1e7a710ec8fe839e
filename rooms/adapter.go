package rooms

import (
	"context"
	"errors"
)

// ErrUnavailable is wrapped by the errors an [Adapter] returns when its backend cannot be
// reached (Redis down, hung, network cut). Local delivery is unaffected; other nodes did
// not get the broadcast, or, when the backend stopped answering after the broadcast was
// sent, may have got it late. Test with errors.Is.
var ErrUnavailable = errors.New("rooms: adapter backend unavailable")

// ErrClosed is returned by the methods of an [Adapter] that has been closed.
var ErrClosed = errors.New("rooms: adapter closed")

// Publication is a room broadcast as it crosses between nodes: one message for the members
// of Rooms except the sessions whose IDs are in Except. A server encodes the message once
// (Data) and hands the same bytes to every member, on its own node directly and on other
// nodes through an [Adapter] (Publish on the sending node, deliver on the others). The
// app-facing builder of a broadcast is sockhop.Broadcast; this is what it publishes.
type Publication struct {
	// Rooms are the target rooms. A member in several of them gets the message once.
	Rooms []string
	// Except are the session IDs that must not get the message.
	Except []string
	// Data is one encoded sockhop protocol message, delivered byte-for-byte. Neither the
	// adapter nor the receiver modifies it.
	Data []byte
}

// Adapter carries room broadcasts between server processes ("nodes"). Local delivery is the
// server's job, not the adapter's: the server delivers a broadcast to its own members from
// its [Index] and hands it to Publish for the others, so local delivery keeps working when
// the backend is down.
//
// The contract, from the server's side:
//
//  1. Start once, before anything else is expected to arrive.
//  2. Subscribe(room) when the room gets its first local member (Index.Join reports
//     created), Unsubscribe(room) when it loses its last (Index.Leave / LeaveAll report it).
//     An adapter may ignore these (the memory one does) or use them to receive only
//     the rooms this node has members in (the Redis one does).
//  3. Publish every broadcast that may have members elsewhere. Publish never delivers to
//     its own node.
//  4. Close on shutdown; it stops every goroutine the adapter started.
//
// Ordering: broadcasts that one node publishes one after another (each Publish returning
// before the next starts) are delivered on every other node in that order. Delivery is at
// most once: broadcasts published while a node is cut off from the backend are lost for
// that node (the Redis adapter counts and logs the outage).
//
// Implementations must be safe for concurrent use.
type Adapter interface {
	// Start begins delivering broadcasts published by other nodes to deliver. deliver is
	// called from one goroutine, in order per room and publisher; it must not block (a
	// server only enqueues) and must not keep p.Rooms, p.Except or p.Data beyond the
	// publication's delivery unless it treats them as read-only. Start returns once the
	// adapter is running; it does not wait for the backend to be reachable (an adapter
	// connects and reconnects in the background). Calling Start twice is an error.
	Start(ctx context.Context, deliver func(Publication)) error

	// Publish sends p to the other nodes that have members in any of p.Rooms. It returns
	// once the backend has accepted p, or an error wrapping [ErrUnavailable] quickly
	// (bounded by ctx and the adapter's own timeout) when the backend cannot be reached.
	// The adapter does not keep p after Publish returns.
	Publish(ctx context.Context, p Publication) error

	// Subscribe tells the adapter that this node has local members in room now, so
	// broadcasts published to room by other nodes must reach it. When Subscribe returns
	// nil, broadcasts that other nodes publish afterwards arrive. An error (wrapping
	// [ErrUnavailable]) means the backend is unreachable; the interest is kept and the
	// subscription is made when the backend comes back, so a server logs it and carries on.
	Subscribe(ctx context.Context, room string) error

	// Unsubscribe tells the adapter that this node has no local members in room any more.
	// Calls are counted: a room subscribed n times stays subscribed until the n-th
	// Unsubscribe.
	Unsubscribe(ctx context.Context, room string) error

	// Close stops delivery and releases the adapter's resources, waiting at most until ctx
	// is done for its goroutines to end. Later calls of any method return [ErrClosed].
	Close(ctx context.Context) error
}
