// Package session runs one logical sockhop session over a [transport.Conn]: the send
// queue bounded in bytes, the single writer that coalesces queued messages into one frame
// and owns heartbeats and write deadlines, the reader, the in-order event dispatcher, acks
// with timeouts and the implicit sequence counters. It knows nothing of HTTP.
//
// # Goroutines
//
// [Session.Serve] runs three goroutines for one transport connection and returns only
// when all three have stopped:
//
//   - the reader (the caller's goroutine) reads frames, answers pings, completes acks and
//     hands events to the dispatcher;
//   - the dispatcher calls the [Handler] for each event, in order, so a slow handler never
//     delays acks and pongs, and a handler may itself wait for an ack;
//   - the writer is the only goroutine that writes to the transport.
//
// Everyone else enqueues: enqueueing never blocks, and overflowing the queue closes the
// session with 1013 (slow consumer).
//
// # Concurrency
//
// All methods of [Session] may be called concurrently.
package session
