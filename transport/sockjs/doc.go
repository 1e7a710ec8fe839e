// Package sockjs is sockhop's HTTP fallback transport: SockJS xhr-streaming and
// xhr-polling served by igm/sockjs-go, with its websocket, eventsource, htmlfile, jsonp
// and iframe transports off (sockhop's own WebSocket is transport/ws).
//
// A guard runs before sockjs-go sees a request, because sockjs-go itself has no incoming
// size limit, reflects any Origin with credentials in CORS, serves a session to whoever
// names its id, and lets a stalled peer block a write forever: the guard applies the Origin
// policy (403), serves a session only to requests with its key in [KeyHeader] (403 without
// it, before anything of the session is touched; 400 for a new session without a key; see
// key.go), caps xhr_send bodies (413,
// then the session closes with 1009), rejects invalid UTF-8 (400, then 1007), refuses new
// sessions while shutting down (503), and bounds every response write with a deadline
// through [http.ResponseController], which also keeps http.Server.WriteTimeout and
// ReadTimeout from cutting long streams.
//
// # Concurrency
//
// A [Handler] serves requests concurrently. A [Conn] has one reader and one writer; Close
// may be called from any goroutine.
package sockjs
