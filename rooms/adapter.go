package rooms

import (
	"context"
	"errors"
)

// ErrUnavailable is wrapped by the errors an [Adapter] returns when its backend cannot be
// reached (Redis or NATS down, hung, network cut). Local delivery is unaffected; other nodes did
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
//     the rooms this node has members in (the Redis and NATS ones do).
//  3. Publish every broadcast that may have members elsewhere. Publish never delivers to
//     its own node.
//  4. Close on shutdown; it stops every goroutine the adapter started.
//
// Room names are arbitrary byte strings: empty, starting with "\x00", containing spaces,
// dots, '*', '>', '?', newlines or bytes that are not UTF-8. An adapter carries each name
// as it is and maps it onto its backend's names (channels, subjects) without collisions or
// wildcard meanings; a broadcast to a room reaches only nodes subscribed to that exact
// name. The server uses rooms whose names begin with "\x00" for its own node-to-node
// control messages (one room every node subscribes to, one per node) and publishes them
// with Publish like any broadcast, relying on the ordering below.
//
// Ordering: Publish calls made one after another by one goroutine of node A (each
// returning before the next starts), to any rooms (one room, several, control rooms),
// are delivered on every other node B in that order, for the rooms B is subscribed to.
// B's deliver is called from one goroutine, so B sees them one at a time in that order.
// Delivery is at most once: broadcasts published while a node is cut off from the backend
// are lost for that node (the Redis and NATS adapters count and log the outage); none is
// delivered twice.
//
// The package [github.com/sockhop/sockhop/rooms/adaptertest] checks an implementation
// against this contract.
//
// Implementations must be safe for concurrent use.
type Adapter interface {
	// Start begins delivering broadcasts published by other nodes to deliver. deliver is
	// called from one goroutine, in publish order (see Ordering above); it must not block (a
	// server only enqueues) and must not keep p.Rooms, p.Except or p.Data beyond the
	// publication's delivery unless it treats them as read-only. Start returns once the
	// adapter is running; it does not wait for the backend to be reachable (an adapter
	// connects and reconnects in the background). Calling Start twice is an error.
	Start(ctx context.Context, deliver func(Publication)) error

	// Publish sends p to the other nodes that have members in any of p.Rooms. It returns
	// once the adapter has accepted p for sending, in order (after the publications this
	// goroutine published before it), without waiting for the backend's reply: an adapter
	// queues p for one writer that pipelines what is waiting, so a handler that emits
	// many broadcasts in a row does not pay a round trip for each. The queue is bounded:
	// when it is full, Publish waits for room (back-pressure), bounded by ctx and the
	// adapter's own timeout. Publish returns an error wrapping [ErrUnavailable] at once
	// while the adapter knows the backend is unreachable, and after that wait when the
	// queue stays full. A publication accepted and then not delivered to the backend
	// (the connection failed meanwhile) is not reported to the caller; an adapter counts
	// and logs it. The adapter does not keep p (or its slices) after Publish returns.
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
