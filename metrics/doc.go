// Package metrics exports what a sockhop [sockhop.Server] does as Prometheus metrics. It
// is a package of its own so that an app that does not use Prometheus does not link it.
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	srv, err := sockhop.New(sockhop.Options{Observer: m})
//	...
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// New registers on the registry it is given, never on Prometheus's global one.
//
// # Metrics
//
// Every name starts with sockhop_. Labels are bounded: transport is one of websocket,
// xhr-streaming, xhr-polling (anything else is "other"); code a close code of sockhop's
// list (README, "Close codes") or "other"; limit one of per_address, handshakes,
// connect_rate or "none"; broker the adapter's package (rooms, redis, nats). No session
// id, user or room name is ever a label.
//
//	sockhop_sessions_open{transport}                       gauge: sessions, detached ones (waiting for a resume) on their last transport
//	sockhop_sessions_opened_total{transport}               new sessions
//	sockhop_sessions_resumed_total{transport,result}       resumes asked for, result ok or failed
//	sockhop_sessions_closed_total{transport,code}          sessions ended, by close code
//	sockhop_transport_fallbacks_total{from,to}             resumes onto a lower transport
//	sockhop_transport_upgrades_total{from,to}              resumes onto a higher transport
//	sockhop_messages_received_total{transport}             messages (lines) read from clients
//	sockhop_messages_sent_total{transport}                 messages written to clients
//	sockhop_received_bytes_total{transport}                bytes of the frames read
//	sockhop_sent_bytes_total{transport}                    bytes of the frames written
//	sockhop_rate_limited_messages_total{transport}         messages refused for the message rate
//	sockhop_slow_consumer_closes_total{transport}          sessions closed (1013) for an overflowing send queue
//	sockhop_send_queue_dropped_messages_total{transport}   messages dropped with those queues
//	sockhop_connections_refused_total{transport,code,limit} connections refused before a session began
//	sockhop_handshake_duration_seconds{transport}          histogram: accept to welcome of new sessions
//	sockhop_resume_duration_seconds{transport}             histogram: accept to welcome of resumes
//	sockhop_broadcast_recipients                           histogram: local sessions a broadcast was queued for
//	sockhop_adapter_publish_duration_seconds{broker}       histogram: Adapter.Publish
//	sockhop_adapter_publish_errors_total{broker}           Adapter.Publish errors
//
// # Fallbacks
//
// A client that cannot use WebSocket walks down its transport ladder before it has a
// session, and its hello says nothing of the rungs that failed, so the server cannot tell
// a new session on xhr-polling that fell back from one whose client asked for polling:
// sockhop_sessions_opened_total by transport is the measure of how many clients end up
// on each. A session that resumes on another transport (the WebSocket dropped, the
// client came back on xhr-streaming) is counted as a fallback or an upgrade, by
// [sockhop.TransportRank]. The traffic of a SockJS session counts under the transport
// it was served on first, even if its client switches between streaming and polling
// within that connection.
//
// # Cost
//
// Per-message counting is per frame and resolves its counters once per transport
// served; each count is an atomic add. BENCHMARKS.md has the measured overhead.
//
// # Concurrency
//
// A [Metrics] is safe for concurrent use, and may observe several servers at once (their
// counts add up).
package metrics
