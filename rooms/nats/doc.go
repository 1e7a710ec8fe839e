// Package nats is a multi-node [rooms.Adapter] of sockhop on NATS core publish/subscribe,
// through [github.com/nats-io/nats.go]. Several server processes ("nodes") that share one
// NATS server or cluster share rooms: a broadcast emitted on one node reaches the members
// of the room on every node. It needs nothing but core NATS (no JetStream).
//
//	a, err := nats.New(nats.Options{URL: "nats://127.0.0.1:4222"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv, err := sockhop.New(sockhop.Options{Adapter: a})
//
// # What crosses, and how
//
// Each node keeps its own membership ([rooms.Index]); NATS only routes. A node subscribes
// to a room's subject when the room gets its first local member and unsubscribes when it
// loses its last. A broadcast to one room is published on that room's subject; a broadcast
// to several rooms on the prefix's shared subject "<SubjectPrefix>.all", which every node
// subscribes to, so a node with members in two of the rooms receives it once (the receiver
// delivers it when it has members in any of the rooms). This is the split of the Redis
// adapter ([github.com/sockhop/sockhop/rooms/redis]).
//
// Room names are arbitrary bytes ("\x00"-prefixed control rooms, spaces, dots, '*', '>',
// bytes that are not UTF-8), and NATS subjects are not: a dot separates tokens, '*' and
// '>' are wildcards, spaces end the subject. A room's subject is therefore
// "<SubjectPrefix>.r.b<name in unpadded base64url>", whose alphabet (A-Z a-z 0-9 - _) is
// safe in a token, and for names longer than 192 bytes "<SubjectPrefix>.r.h<base64url of
// the name's SHA-256>", which keeps subjects far below NATS's 4 KiB control-line limit.
// The message carries the real names, which the receiver checks, so no name can receive
// another's broadcasts.
//
// Each adapter has a random 8-byte node ID. It is in every message, and a node drops
// messages with its own ID; the connection is also made with NATS's no_echo option, so
// the server does not send a node's own publications back in the first place.
//
// # Wire format
//
// The same as the Redis adapter's (the NATS payload is opaque bytes):
//
//	byte 0      format version, 1
//	bytes 1-8   publisher's node ID
//	uvarint     number of rooms, then per room a uvarint length and the name's bytes
//	uvarint     number of except IDs, then per ID a uvarint length and its bytes
//	rest        Publication.Data, verbatim (one encoded sockhop protocol message)
//
// A node counts messages with another version byte as malformed and drops them. A
// publication larger than the server's max_payload (1 MiB by default) fails at once with
// nats.go's ErrMaxPayload (not [rooms.ErrUnavailable]: retrying will not help).
//
// # Publishing: queued, in order, pipelined
//
// Publish encodes the publication and puts it in a bounded queue (Options.PublishQueue,
// 8192 by default); it does not wait for NATS, which acknowledges nothing in core
// publish/subscribe anyway. One writer goroutine hands what is queued to the connection
// in queue order, and nats.go's flusher writes whatever has accumulated in one socket
// write, so a handler that emits 2,000 broadcasts in a row costs 2,000 buffer appends, not
// 2,000 round trips. When the queue is full, Publish waits for room, at most until its ctx
// is done or PublishTimeout passes, and then fails with an error wrapping
// [rooms.ErrUnavailable]: back-pressure, never unbounded memory. Failures of publications
// already queued are counted (Stats.WriteErrors) and logged at most once a second, not
// returned.
//
// # Ordering and delivery
//
// NATS keeps the order of the messages one connection publishes, for each connection
// that receives them, across subjects. On the receiving side every subscription of a node
// feeds one Go channel, in the order the connection read the messages, and one goroutine
// decodes and delivers from it (nats.go's usual asynchronous subscriptions have a
// goroutine each, which would reorder broadcasts to different rooms). So broadcasts one
// goroutine publishes one after another arrive at every node in that order, even across
// rooms, as sockhop's node-to-node control messages require. Delivery is at most once:
// nothing is retried, and what is published while a node is disconnected is lost for that
// node. When the deliver function falls behind by more than ReceiveQueue messages (65536
// by default), nats.go drops messages, logs a Warn (a "slow consumer") and counts them
// (Stats.Dropped).
//
// # When NATS goes away
//
//   - Local delivery is the server's and keeps working.
//   - The connection notices the loss at once when the socket closes, or after at most two
//     HealthIntervals of silence (PING, no PONG), or when a write to the socket blocks for
//     PublishTimeout plus two HealthIntervals. The adapter logs a Warn, counts a disconnect, and Publish then fails
//     at once with an error wrapping [rooms.ErrUnavailable], without touching the network,
//     until the connection is back.
//   - The adapter turns off nats.go's reconnect buffer (ReconnectBufSize -1): nats.go would
//     otherwise keep up to 8 MB of publications made during an outage and send them, late,
//     after reconnecting. Publications still in the adapter's queue when the loss is
//     noticed are dropped and counted (Stats.WriteErrors); those already in nats.go's
//     socket buffer (at most its 32 KiB write buffer plus the kernel's) may be lost.
//   - nats.go reconnects with exponential back-off from MinBackoff to MaxBackoff with
//     jitter, forever, to the servers of URL and those the cluster announced; on the new
//     connection it subscribes every subject of current interest before anything else,
//     and the adapter logs an Info with the outage's length and counts a reconnect.
//     Subscribe calls made during the outage return an error wrapping
//     rooms.ErrUnavailable, but the interest is kept and subscribed on reconnection.
//   - A connection counts as back only when the server has answered the client's CONNECT
//     with the INFO and PONG of a live server (against a hung server the kernel still
//     completes TCP handshakes, and those do not count), and then a PING sent after the
//     subscriptions, so that once a node reports Connected it receives what other nodes
//     publish.
//   - [Adapter.Stats] exposes the counters for metrics.
//
// Measured in the tests on this machine (2 shared cores, -race, nats-server 2.9, 300 ms
// timeouts, back-off 20-200 ms): nats-server stopped in the middle of a stream
// (TestConformance/BackendDown): Publish fails at once (well under 1 ms per call) from the
// moment the socket closes, and broadcasts cross again about 100-150 ms after the server
// is back. nats-server frozen with SIGSTOP (BackendHung): Publish keeps returning at once
// (queued) until the PING check notices, about 600 ms (two HealthIntervals) after the
// freeze, then fails at once; broadcasts cross again about 40 ms after the server
// continues.
//
// # Throughput
//
// Measured on a shared 2-core machine (nats-server 2.9 on the servers' core; figures vary
// with the machine's other load, so ratios are taken run by run). In sockhop's benchmark
// (bench/: one room of 1,000 members split over two nodes, one handler emitting 2,000
// broadcasts of 100 bytes, 8 runs on 2026-12-01, `bin/bench -only broadcast -targets
// "sockhop websocket"`), "2 nodes + NATS" delivered 1.32× (0.94-2.98) the one-node rate,
// median (range) of the per-run ratios, and 0.94× in the quietest run (under 6% of the
// core taken by other work); CPU per 1M delivered messages was 1.02 s (0.98-1.14) against
// one node's 1.04 (0.93-1.12): the cross-node path costs almost nothing next to the
// fan-out. BenchmarkPublishDeliver (two nodes, 64-byte payload, a deliver that only
// counts): 90,000-460,000 broadcasts/s publish -> deliver, depending on the machine's
// other load (about 280,000/s from one publishing goroutine on a quiet machine).
// BenchmarkSubscribe: a new room's Subscribe + Unsubscribe about 110 µs (one round trip).
//
// # Histories (durable rooms) and claims, on JetStream
//
// The Adapter is also a [rooms.History] when the server runs JetStream (nats-server -js):
// the histories of durable rooms live in one stream per SubjectPrefix, named
// "sockhop_<prefix>_<hash>_h", with a subject per room, "<SubjectPrefix>.h.<token>" (the
// token as for broadcasts). Each message carries its room's epoch, offset and TTL in
// headers (Sockhop-Epoch, Sockhop-Offset, Sockhop-Ttl). Append reads the room's latest
// message (its stream sequence, epoch and offset) and publishes the next offset with
// Nats-Expected-Last-Subject-Sequence set to that sequence, so of two nodes appending at
// once one is refused and reads again (bounded retries with random waits; one node's
// appends to a room take turns): offsets are contiguous and unique across nodes. A room
// with no message, or whose latest message is older than its TTL, begins a new epoch (a
// random name) at offset 1. Since reads the latest message, then the room's messages
// through an ordered consumer filtered on its subject.
//
// Limits, as JetStream sets them per stream: the stream keeps MaxMsgsPerSubject = the
// largest HistorySize and MaxAge = the largest HistoryTTL any Append asked for (they only
// grow; nodes of one application should use the same Channel settings, or two nodes
// growing them at once may leave the smaller). A room asking for a smaller size is
// trimmed exactly after its Append (a purge of its subject keeping HistorySize); a room
// with a shorter TTL has its older entries skipped by Since (by the messages' server
// timestamps against this node's clock) until MaxAge removes them. Streams are in files
// (they survive a server restart) unless Options.HistoryMemory; with memory storage a
// restarted server has lost them, and clients catch up with recovered false. Streams have
// one replica: in a NATS cluster, make the stream yourself with more replicas (same name
// and subjects) before the nodes start.
//
// Without JetStream on the server, Append, Since and Claim fail with errors wrapping
// [rooms.ErrNoHistory]; broadcasts work as before. They need [Adapter.Start] (the
// connection) and fail with errors wrapping [rooms.ErrUnavailable] while it is down.
//
// [Adapter.Claim] (the HTTP publish endpoint's Idempotency-Key) writes a message saying
// until when the claim holds on "<SubjectPrefix>.c.<base64url(sha256(key))>" in a second
// stream (one message per subject, MaxAge the largest ttl asked), with the same expected
// sequence check, so of concurrent claims one wins.
//
// BenchmarkDurable (two nodes on one local nats-server 2.9 with file storage, 64-byte
// payloads, one run on 2 shared cores, publish -> deliver): a durable broadcast costs about
// 500 µs (two round trips: the latest message, then the acknowledged publication) against
// 10 µs for a default one from one goroutine (~48×), and 420 µs against 11 µs from 16
// goroutines to one room (~37×; they take turns).
//
// # Concurrency
//
// All methods of [Adapter] may be called concurrently. The deliver function given to
// Start is called from the adapter's one delivery goroutine, one broadcast at a time; it
// must not block. Subscribe and Unsubscribe serialise on one mutex, held only while
// nats.go appends to its write buffer. Close stops the adapter's two goroutines, flushes
// what was queued and closes the connection, which ends nats.go's goroutines.
package nats
