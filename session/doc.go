// Package session runs one logical sockhop session over a sequence of [transport.Conn]s:
// the send queue bounded in bytes, the single writer that coalesces queued messages into
// one frame and owns heartbeats and write deadlines, the reader, the in-order event
// dispatcher, acks with timeouts, the implicit sequence counters and the resume buffer. It
// knows nothing of HTTP.
//
// # Goroutines
//
// Every goroutine of a session, who starts it, what it owns and how it stops:
//
//	goroutine    started by                      owns                                  stops when
//	reader       Serve/Start (on a ReadWaiter    ReadFrame; rate-limit buckets; inSeq; no bytes are waiting (ReadWaiter: the
//	             only when bytes wait; WebSocket answers pings, completes acks; ends   poller starts it again when some
//	             on Linux), and the poller when  the transport (finish)                arrive), or the transport ends
//	             bytes arrive
//	writer       whoever queues a message, when  every write to the transport; outSeq; the queue stayed empty for writeLinger
//	             none runs (kick); a transport's coalescing                            (100-200 ms; on another's
//	             first runs on Serve's caller,                                         goroutine: at once), or the
//	             a handler's replies on the                                            transport ends (finish waits for it)
//	             dispatcher's (writeHere)
//	heartbeat    timers (time.AfterFunc)         pings, the pong and idle deadlines    at once
//	closer       the transport's end             conn.Close, so a writer stuck on a    at once, after closing (finish waits)
//	             (served.cancel)                 stalled peer and a waiting reader
//	                                             are freed
//	dispatcher   the reader, on demand, while    runs the Handler, one event at a      no event came for dispatchLinger
//	             events wait                     time, in order                        (100-200 ms), or the session has
//	                                                                                   ended; Wait waits for it
//	owner        between transports: the         waits for Attach (handoff), then      the next transport is served, or
//	             reader that finished            serves the next transport             the session ends
//	attacher     a resuming connection's         nothing: hands its conn to the owner  the owner took it or refused it
//	             goroutine, in Attach
//
// So a session whose peer is silent holds no goroutine at all on WebSocket (Linux, plain
// TCP: the reader waits in the process's epoll poller, transport/ws), and only sockjs-go's
// and its reader on the SockJS transports. The transport ends on the reader's goroutine
// (finish): it waits for the writer and the closer, then calls Serve's caller back (Start)
// or returns (Serve, Run).
//
// Everyone else enqueues (Send, Emit, Reply, Request, Close): enqueueing never blocks, and
// overflowing the queue closes the session with 1013 (slow consumer). Serve returns only
// after its reader, writer and closer have stopped. The dispatcher outlives a transport
// (events keep their order across a resume) and is the one goroutine Serve and Run do not
// wait for, so that a handler never delays the end of a transport: [Session.Wait] waits
// for it, and the server calls Wait before OnDisconnect, so OnDisconnect never runs
// beside a handler of the same session.
//
// Fields of [Session] are grouped by owner in its declaration: set once by New; guarded
// by mu (queue, resume buffer), by tmu (the transport served), by dmu (the dispatcher's
// start and Wait); atomics written by one goroutine and read by others (the arrow says
// who writes and who reads); owned by the reader; owned by the writer.
//
// # Metrics
//
// Config.Meter returns, once per transport served, the [Meter] that the reader and the
// writer call once per frame (read, written, messages refused for the rate): no lookup or
// allocation per message. Config.OnSlowConsumer is called once when the queue overflows.
//
// # Concurrency
//
// All methods of [Session] may be called concurrently, except that Serve and Run serve
// one transport at a time, and a handler must not call Wait.
package session
