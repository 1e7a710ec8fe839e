// Package redis is the multi-node [rooms.Adapter] of sockhop, on Redis Pub/Sub through
// [github.com/redis/go-redis/v9]. Several server processes ("nodes") that share one Redis
// share rooms: a broadcast emitted on one node reaches the members of the room on every
// node.
//
//	a, err := redis.New(redis.Options{URL: "redis://127.0.0.1:6379/0"})
//	if err != nil {
//		log.Fatal(err)
//	}
//	srv, err := sockhop.New(sockhop.Options{Adapter: a})
//
// # What crosses, and how
//
// Each node keeps its own membership ([rooms.Index]); Redis only routes. A node SUBSCRIBEs
// to a room's channel when the room gets its first local member and UNSUBSCRIBEs when it
// loses its last. A broadcast to one room is PUBLISHed on that room's channel,
// "<KeyPrefix>:r:<room>"; a broadcast to several rooms on the prefix's shared channel
// "<KeyPrefix>:all", which every node subscribes to, so a node with members in two of the
// rooms receives it once (the receiver delivers it when it has members in any of the rooms,
// and its server's Index.Each visits each member once). This is Socket.IO's Redis adapter's
// split; Centrifuge's Redis broker likewise uses one channel per channel.
//
// Each adapter has a random 8-byte node ID. It is in every message, and a node drops its
// own messages, which Redis echoes back when the node has local members in the room.
//
// # Wire format
//
// A message is binary (Redis strings are binary-safe):
//
//	byte 0      format version, 1
//	bytes 1-8   publisher's node ID
//	uvarint     number of rooms, then per room a uvarint length and the name's bytes
//	uvarint     number of except IDs, then per ID a uvarint length and its bytes
//	rest        Publication.Data, verbatim (one encoded sockhop protocol message)
//
// For a one-room broadcast of a 100-byte message this is 9+1+1+len(room)+1+100 bytes; JSON
// would add about 40 bytes and an escaping pass over Data. A node counts messages with
// another version byte as malformed and drops them.
//
// # One channel per room, not sharded channels
//
// The alternative is hashing rooms onto a fixed set of channels (Options.Shards) and
// filtering on receipt. Both are implemented and benchmarked (bench_test.go, two nodes on
// one local redis-server 7.0, 2 shared cores, medians of 3 runs):
//
//	                                             channel per room    16 shards
//	Subscribe+Unsubscribe of a new room          ~110 µs             ~1.4 µs
//	1,000 busy rooms, node with members in 10:
//	  messages the node receives per published   0.010               0.57
//	publish->deliver, one room, 16 publishers    ~100-250k msg/s     ~same
//	  (the same, before Publish queued)          ~60-70k msg/s       ~same
//
// Sharding saves a round trip when a room is created on a node; channel per room saves
// every node from receiving (and decoding and dropping) most of the cluster's traffic, a
// cost that grows with the number of nodes and rooms, on the hot path, forever. Redis looks
// a channel up in a hash table, so a million subscribed channels cost it memory, not time
// per PUBLISH. The default is therefore one channel per room; Shards exists for workloads
// with huge numbers of short-lived rooms and little traffic. Every node of an application
// must use the same KeyPrefix and Shards.
//
// # Publishing: queued, in order, pipelined
//
// Publish encodes the publication and puts it in a bounded queue (Options.PublishQueue,
// 8192 by default); it does not wait for Redis's reply. One writer goroutine takes what is
// waiting (up to 512) and sends it as one pipelined round trip of PUBLISH commands, in
// queue order. So a handler that emits 2,000 broadcasts in a row costs a few round trips,
// not 2,000 (before this design, each Publish waited for its own reply). When the queue is
// full (Redis slower than the publishers, or hung), Publish waits for room, at most until
// its ctx is done or PublishTimeout passes, and then fails with an error wrapping
// [rooms.ErrUnavailable]: back-pressure, never unbounded memory. PUBLISH commands that
// fail after Publish queued them are counted (Stats.WriteErrors) and logged at most once
// a second, not returned; while the adapter knows it is disconnected, the writer drops
// what is queued without trying.
//
// Measured on a shared 2-core machine (redis-server 7.0 on the servers' core; figures
// vary with the machine's other load, so ratios are taken run by run). In sockhop's
// benchmark (bench/: one room of 1,000 members split over two nodes, one handler emitting
// 2,000 broadcasts of 100 bytes, delivered msg/s of "2 nodes + Redis" over one node's,
// 8 runs each on 2026-12-01, `bin/bench -only broadcast -targets "sockhop websocket"`):
//
//	                               × 1 node, median (range)   CPU s per 1M delivered
//	one node                       1                          0.99-1.04
//	2 nodes, Publish waited        0.32× (0.22-1.01)          4.18 (3.14-6.30)
//	2 nodes, Publish queues        1.36× (0.94-3.56)          1.03 (0.94-1.19)
//
// The medians lean on runs in which other work slowed the one-node measurement; in the
// quietest run (under 6% of the core taken by other work) two nodes delivered 0.94× of
// one node's rate. The CPU per delivered message, which other load hardly moves, is the
// same as one node's: the cross-node path (encode, queue, one pipelined write per batch,
// one subscriber read, decode, deliver) costs almost nothing next to the fan-out to
// members. BenchmarkPublishDeliver shows the receiving side alone (one subscriber
// connection, decode, a deliver that only counts) at 100,000-250,000 broadcasts/s, two
// orders of magnitude above the 2,000 broadcasts per ~2 s that node's fan-out needs.
//
// # Ordering and delivery
//
// One subscriber connection per node receives every channel, and the one writer goroutine
// per node sends PUBLISH commands in the order Publish calls queued them, so broadcasts one
// goroutine publishes one after another arrive at every node in that order, even across
// rooms and for the server's "\x00" control rooms. Delivery is at most once: PUBLISH is
// never retried (a retry after a lost reply could deliver twice), and what is published
// while a node is disconnected is lost for that node. Sessions' resume buffers cover a
// node's own sessions, not this gap.
//
// # When Redis goes away
//
//   - Local delivery is the server's and keeps working.
//   - The subscriber connection notices the loss at once when the socket closes, or after
//     at most two HealthIntervals of silence (PING, no answer). The adapter logs a Warn,
//     counts a disconnect, and Publish then fails at once with an error wrapping
//     [rooms.ErrUnavailable], without touching the network, until the connection is back.
//     Broadcasts queued before the loss was noticed fail in the writer (after at most
//     PublishTimeout for a hung server) and are counted, not returned.
//   - It reconnects with exponential back-off from MinBackoff to MaxBackoff with jitter,
//     SUBSCRIBEs every channel of current interest on the new connection, logs an Info with
//     the outage's length and counts a reconnect. Subscribe calls made during the outage
//     return an error wrapping rooms.ErrUnavailable but are kept and made on reconnection.
//   - [Adapter.Stats] exposes the counters for metrics.
//
// A connection counts as back only when Redis confirms a subscription: against a hung
// server the kernel still completes TCP handshakes, and an adapter that trusted them would
// flap between "lost" and "restored".
//
// Measured in the tests on this machine (2 shared cores, -race, redis-server 7.0):
// redis-server SIGKILLed mid-stream and restarted on the same port 55-70 ms later
// (TestRestart): failing Publish calls return in at most 3 ms; broadcasts cross again
// 25-50 ms after the restart (outage as the adapter saw it: about 100 ms), and none
// arrives twice or out of order. redis-server frozen with SIGSTOP (TestHang and
// TestConformance/*/BackendHung, 300 ms timeouts): Publish keeps returning at once (it
// only queues) until the subscriber's health check notices the hang, about 600 ms (two
// HealthIntervals) after the freeze, and then fails at once; what was queued meanwhile is
// counted in WriteErrors; broadcasts cross again 20-170 ms after the server continues.
//
// # Histories (durable rooms) and claims
//
// The Adapter is also a [rooms.History]: a server that uses it keeps the histories of its
// durable rooms in Redis, so a client whose node died catches up on any other node. Each
// room has three keys with one hash tag, so a Redis Cluster keeps them in one slot:
//
//	<KeyPrefix>:h:{r<room>}:s   a Redis Stream of the entries (fields o: offset, d: data)
//	<KeyPrefix>:h:{r<room>}:o   the latest offset (INCR)
//	<KeyPrefix>:h:{r<room>}:e   the epoch, a random name set when the history begins
//
// (a room name that is empty or holds a brace is written "{b<base64url(room)>}" instead).
// Append is one Lua script: it starts a new epoch when the epoch key is gone (never
// written, expired, or lost with a restarted Redis), INCRs the offset, XADDs the entry
// with MAXLEN exactly HistorySize, XTRIMs by MINID the entries older than HistoryTTL (by
// their stream IDs, Redis's own clock), and PEXPIREs the three keys to HistoryTTL: an
// idle room's history disappears whole, and its next Append begins a new epoch. Offsets
// are contiguous because the script runs atomically, whichever node calls it. Since is
// one Lua script too (the epoch, the latest offset and the entries agree): the kept
// entries always end at the latest offset, so the entries after offset s are the newest
// latest-s (XREVRANGE COUNT). The age bound is applied at each Append (and by the keys'
// expiry); Since does not drop entries that aged out since the last Append.
//
// Without persistence (or with it lagging) a restarted Redis has lost the histories:
// clients catch up with recovered false. [Adapter.Claim] (the HTTP publish endpoint's
// Idempotency-Key) is one SET <KeyPrefix>:c:<key> NX PX ttl. Histories and claims use the
// adapter's command connections from [New] on; their errors wrap [rooms.ErrUnavailable]
// while Redis cannot be reached.
//
// BenchmarkDurable (two nodes on one local redis-server 7.0, 64-byte payloads, one run
// on 2 shared cores, publish -> deliver): a durable broadcast (Append, then Publish)
// costs about 240 µs from one publishing goroutine against 6.5 µs for a default one
// (~38×: Append waits for its script's reply, Publish only queues), and 118 µs against
// 4.6 µs from 16 goroutines (~26×).
//
// # Concurrency
//
// All methods of [Adapter] may be called concurrently. The deliver function given to
// Start is called from the adapter's one subscriber goroutine, one broadcast at a time; it
// must not block, or Redis will eventually drop the node's subscriber connection for an
// overflowing output buffer. Subscribe and Unsubscribe serialise on one mutex that a
// reconnection attempt also holds (at most DialTimeout+PublishTimeout). Close stops both
// of the adapter's goroutines and closes its connections.
package redis
