// Package sockhop is a realtime framework for Go web apps: named events, acks and rooms
// over native WebSocket, with SockJS xhr-streaming and xhr-polling fallbacks for networks
// whose proxies strip Upgrade headers or buffer responses.
//
// An app creates a [Server], registers handlers with [On], [OnRequest] or
// [Server.Handle], and mounts the server, an [http.Handler], under any path M:
//
//	srv, err := sockhop.New(sockhop.Options{})
//	sockhop.On(srv, "chat", func(ctx context.Context, s *sockhop.Session, text string) error {
//		return s.Emit(ctx, "chat", text)
//	})
//	r := chi.NewRouter()
//	r.Mount("/rt", srv) // M/ws, M/sockjs/..., M/sockhop.js
//
// Browsers load the client from M/sockhop.js; Go programs use
// [github.com/sockhop/sockhop/client]. PROTOCOL.md in the repository is the wire
// protocol.
//
// # Mounting
//
// The server finds its endpoints by the end of the request path, so it works whether the
// router strips the mount prefix (http.StripPrefix) or not (chi's Mount). Keep its routes
// out of middleware that buffers or times out responses (chi's middleware.Timeout and
// middleware.Compress): the HTTP fallbacks stream. http.Server's ReadTimeout and
// WriteTimeout are fine: the server renews deadlines itself for long responses.
//
// # Sessions and goroutines
//
// Each session has a reader and a writer goroutine per transport, and a dispatcher that
// runs its handlers (package session's doc has the table of who owns what). Handlers of
// one session run one at a time in the order the client sent the events, across resumes;
// handlers of different sessions run concurrently. OnConnect runs before the first
// handler, and OnDisconnect once, after the last handler has returned, so state that a
// session's handlers and its OnDisconnect share needs no lock. A handler that ignores its
// ctx (cancelled when the session ends) delays OnDisconnect and Shutdown. Emits never block: they queue, and a session whose queue
// overflows (a slow consumer) is closed with [CloseTryAgainLater]. A panicking handler
// closes only its own session, with [CloseInternalError].
//
// # Many nodes
//
// With an [Options.Adapter] (rooms/redis, rooms/nats) the server is one node of a cluster
// behind any load balancer, sticky or not (docs/scaling.md). Room broadcasts cross through
// the adapter. Every node also tells the others, through the same adapter, which sessions
// it has in which rooms (numbered changes, heartbeats, snapshots when one is lost), so
// [Server.Members], [Server.Count], [Server.Presence] and [Server.DisconnectUser] answer
// for the whole cluster and presence events ([Options.PresenceEvents]) count a user's tabs
// on any node as one member; a node silent for [Options.NodeTTL] is forgotten with its
// sessions. A session lives on one node: clients name it (PROTOCOL.md §7), and a request
// that reaches another node is proxied to it at its [Options.Advertise] address.
//
// Processes that serve no clients emit to rooms and users of the cluster through the
// broker with a [Publisher], or over HTTP at <mount>/publish ([Options.PublishKey]);
// [Server.ToUser] addresses every session of a user on every node.
//
// # Channels
//
// Rooms are joined by server code ([Session.Join]) or, where a [Channel] rule allows it
// ([Server.Channel]), by the clients themselves. Each broadcast has a [Class]: [Default],
// [Volatile] (dropped for slow or detached clients) or [Durable] (kept in the room's
// history, [Options.History], from which a client that lost its session catches up on
// any node and is told whether it recovered everything). PROTOCOL.md §9 has the wire.
//
// # Operating it
//
// [Options.Observer] receives what the server does (sessions opened, resumed and closed
// by transport and close code, fallbacks, refusals, traffic, slow consumers, broadcasts,
// adapter publishes); the package github.com/sockhop/sockhop/metrics makes Prometheus
// metrics of it, so that this package does not link Prometheus. [Options.AdminAuthorize]
// turns on a live admin page at <mount>/admin. [Options.Logger] gets one line per session
// open and end at Info, with the attributes session, transport, code, reason and remote
// (README, "Logs", lists them all), and nothing per message.
//
// # Concurrency
//
// All methods of [Server] and [Session] may be called concurrently.
package sockhop
