package sockhop

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/session"
)

// Options configure a [Server]. The zero value is usable: every field's comment names its
// default.
type Options struct {
	// AllowedOrigins lists the browser origins allowed besides the server's own, on
	// WebSocket and on every SockJS request. An entry is a full origin
	// ("https://app.example") or a host pattern matched with path.Match ("app.example",
	// "*.example.com"). Requests without an Origin header (non-browser clients) are allowed.
	// Zero means same-origin only.
	AllowedOrigins []string
	// InsecureAllowAnyOrigin turns the Origin check off, which lets any web page use a
	// visitor's cookies to open sessions (cross-site WebSocket hijacking). A warning is
	// logged at New.
	InsecureAllowAnyOrigin bool
	// AllowedHosts lists the Host header values the server answers, against DNS
	// rebinding: a page on evil.example whose name is then pointed at this server's
	// address is "same-origin" for the Origin check (its Origin host equals the Host it
	// sends), so only the Host tells it apart. An entry is a host name or IP ("app.example",
	// "127.0.0.1", "::1"), which allows any port; a name with a port ("localhost:8080",
	// "[::1]:8080"), which allows that port only; or a path.Match pattern of names
	// ("*.app.example"). Requests with any other Host get 403 on every endpoint: WebSocket,
	// SockJS, sockhop.js and diag. Zero means any Host, as a server that does not know its
	// public names (behind proxies, under many names) cannot check it; set it on a server
	// that trusts its network position instead of credentials (a development server on
	// localhost, an internal service), which DNS rebinding would otherwise expose to any
	// web page its users visit.
	AllowedHosts []string

	// PingInterval is the time between server pings, and the longest a client may ask for.
	// Zero means 25s.
	PingInterval time.Duration
	// MinPingInterval is the shortest time between server pings a client may ask for: a
	// client behind a proxy that cuts idle connections asks for an interval under the cut
	// (the hello's or a ping's "ping" field, PROTOCOL.md §5), which the server clamps to
	// [MinPingInterval, PingInterval] per session. Zero means 5s.
	MinPingInterval time.Duration
	// GoingAwayGrace is how long a session is kept for a resume after its client closed
	// with 1001 ("going away": a browser page that unloads, which may be a reload),
	// instead of ResumeGrace: a reload resumes within it, a closed tab's session ends
	// after it. Zero means 1s; negative means ResumeGrace.
	GoingAwayGrace time.Duration
	// PongTimeout is how long after a ping the client has to answer before the session
	// closes with CloseHeartbeatTimeout. Zero means 20s.
	PongTimeout time.Duration
	// HandshakeTimeout is how long a new connection has to send its hello. Zero means 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds every transport write. Zero means 10s.
	WriteTimeout time.Duration
	// AckTimeout bounds EmitWithAck when its context has no earlier deadline. Zero means 10s.
	AckTimeout time.Duration

	// MaxMessageSize is the largest incoming frame in bytes (a WebSocket message or an
	// xhr_send body). Zero means 64 KiB.
	MaxMessageSize int64
	// MaxQueueBytes bounds each session's send queue in bytes; overflowing it closes the
	// session with CloseTryAgainLater (slow consumer). Zero means 1 MiB.
	MaxQueueBytes int
	// MaxPendingAcks bounds a session's unanswered EmitWithAck calls. Zero means 1024.
	MaxPendingAcks int

	// ResumeGrace is how long a session whose transport dropped is kept, with its rooms,
	// state and unacknowledged messages, for the client to resume it on any transport.
	// Zero means 2 minutes; negative turns resume off (a dropped transport ends the session).
	ResumeGrace time.Duration
	// ResumeBytes bounds, per session, the sent messages kept until the client
	// acknowledges them; a session that overflows it while detached cannot resume. Zero
	// means 1 MiB.
	ResumeBytes int

	// ShutdownRetry is the longest reconnect delay Shutdown hints to clients; each client
	// gets a random delay up to it so they do not all come back at once. Zero means 5s.
	ShutdownRetry time.Duration

	// DisableWebSocket turns the native WebSocket endpoint off (clients fall back to the
	// SockJS transports).
	DisableWebSocket bool
	// DisableDiag turns off the connectivity doctor page at <mount>/diag.
	DisableDiag bool
	// DisableClientJS stops serving the bundled browser client at <mount>/sockhop.js.
	DisableClientJS bool
	// SockJSDisconnectDelay is how long an HTTP-fallback session waits for the client's
	// next poll or stream before it ends. Zero means 5s.
	SockJSDisconnectDelay time.Duration
	// SockJSCookie sets the JSESSIONID cookie on SockJS requests, for load balancers that
	// keep a client on one node by that cookie.
	SockJSCookie bool

	// Authenticate, when set, runs for every new session and every resume, on every
	// transport, with the request that opened the transport (cookies, headers) and the
	// hello's auth field (a token the client sends in its first message, so it never
	// appears in a URL). A *Error is shown to the client, any other error is logged and
	// shown as "unauthorized"; either closes with CloseUnauthorized (terminal); a panic is
	// logged with its stack and closes with CloseInternalError. A resume whose identity's
	// UserID differs from the session's starts a new session instead; one with the same
	// UserID replaces the session's identity (Data, Expires). An identity with Expires set
	// closes its session at that time with CloseAuthExpired, after which the clients fetch
	// fresh credentials and reconnect.
	Authenticate func(r *http.Request, auth json.RawMessage) (Identity, error)

	// MaxSessionsPerIP bounds concurrent sessions per client address (see
	// TrustedProxies); past it new SockJS sessions get 429 and WebSocket ones close with
	// 1013. A session waiting for its resume still counts, and its resume is not a new
	// session. Handshakes under way (no hello yet) are bounded by the same number,
	// separately. Zero means 100; negative means no limit.
	MaxSessionsPerIP int
	// ConnectRate is how many connections (new sessions and resumes) per second one client
	// address may start on average, and ConnectBurst how many at once. A connection past
	// the burst waits its turn, up to a second; one that would wait longer is refused with
	// a retry hint (429 on SockJS, 1013 on WebSocket). A client that reconnects in a loop
	// is thus served at this rate, whatever it costs it. IPv6 addresses share a budget per
	// prefix (IPv6PrefixLen). Zero means 20/s and a burst of 100; a negative ConnectRate
	// means no limit.
	ConnectRate  float64
	ConnectBurst int
	// IPv6PrefixLen is the IPv6 prefix length by which the per-address limits
	// (MaxSessionsPerIP, the handshakes under way, ConnectRate) count a client: all the
	// addresses of one prefix share one count, as one host or home network usually has a
	// whole /64 and could otherwise rotate through it. IPv4 addresses count one by one.
	// Zero means 64; 128 counts each IPv6 address alone; values outside 1–128 are an
	// error at New.
	IPv6PrefixLen int
	// TrustedProxies lists the addresses or CIDR prefixes of reverse proxies whose
	// X-Forwarded-For is believed for the per-IP limit. Zero means none: the TCP peer is
	// the client.
	TrustedProxies []string
	// MessageRate is how many messages per second a client may send on average, and
	// MessageBurst how many at once. Every message counts, empty lines and frames
	// included, except acks of the server's own requests and pongs that answer its pings
	// or acknowledge its messages. Past the burst, events are refused with an error ack
	// "rate_limited" and pings go unanswered; a client that sends one more burst than the
	// rate allows, refused messages included, is closed with 1008: a steady flood at
	// twice the rate MessageBurst/MessageRate seconds after its burst ran out. Zero means
	// 100/s and a burst of 200; a negative MessageRate means no limit.
	MessageRate  float64
	MessageBurst int
	// MaxRoomsPerSession bounds the rooms one session may be in; Join fails with
	// ErrTooManyRooms past it, and a client subscription with the error code
	// "too_many_rooms". Zero means 1000.
	MaxRoomsPerSession int

	// Adapter carries room broadcasts between server processes ("nodes"); the server starts
	// it in New and closes it in Shutdown. Nil means rooms.NewMemory(): one process.
	// github.com/sockhop/sockhop/rooms/redis and .../rooms/nats are the multi-node
	// adapters. With an Adapter set the server is one node of a cluster (docs/scaling.md):
	// it tells the others through the Adapter which sessions it has in which rooms, so
	// that Members, Count, Presence and DisconnectUser answer for the whole cluster, and it
	// forwards the requests of sessions that live on another node there (Advertise).
	Adapter rooms.Adapter
	// History keeps the durable broadcasts of rooms (Class Durable, PROTOCOL.md §9) for
	// clients to catch up from, on any node. Nil means the Adapter's when it implements
	// rooms.History (the Redis and NATS adapters do, in their brokers), else
	// rooms.NewMemoryHistory(): one process.
	History rooms.History
	// Advertise is the base URL ("http://10.0.0.5:8080", scheme and host only) at which the
	// other nodes of the cluster reach this one, to forward it the requests of its sessions
	// that a load balancer without affinity sends elsewhere (PROTOCOL.md §7). Every node
	// must mount the Server at the same path. Empty: this node forwards to the others but
	// cannot be forwarded to, so the HTTP fallbacks need sticky load balancing to reach
	// its sessions. Used only with an Adapter.
	Advertise string
	// NodeID names this node in the cluster: "n" and 3 to 31 characters of [a-z0-9].
	// Empty means a random one, new each time the process starts, which is what the
	// protocol expects (a restarted node has lost its sessions). Used only with an Adapter.
	NodeID string
	// NodeHeartbeat is how often this node tells the others it is alive, and NodeTTL how
	// long a silent node is kept: after it, its sessions leave Members, Count and Presence
	// (presence:leave events), and requests naming it are served where they arrive. Zero
	// means 2s and 6s.
	NodeHeartbeat, NodeTTL time.Duration
	// PresenceEvents, when set, reports whether the members of room get presence events:
	// "presence:join" when a user (Identity.UserID) gets their first session in the room
	// anywhere in the cluster, and "presence:leave" when they lose their last, each with
	// {"room": room, "user": id}. Anonymous sessions (UserID "") make none. Nil: none.
	PresenceEvents func(room string) bool

	// AdminAuthorize, when set, turns on the admin page at <mount>/admin and reports
	// whether a request may see it (check a password, a cookie, a header set by your
	// proxy...). The page shows, live over sockhop itself, the sessions per transport and
	// per node, the largest rooms, message rates, recent closes, fallbacks over time, and
	// finds a user's sessions with a button that disconnects them (DisconnectUser). A
	// refused request gets 401 with a Basic challenge. Serving the page mints a token
	// that the page's session must show with every request; nothing else opens it. Nil:
	// no admin page (404), the default.
	AdminAuthorize func(r *http.Request) bool

	// PublishKey turns on the HTTP publish endpoint at <mount>/publish (README,
	// "Publishing from other processes"; PROTOCOL.md §9): a POST with the header
	// "Authorization: Bearer <PublishKey>" and a JSON body emits an event to rooms and
	// users on every node, for a process in any language that is not a node. Treat it as
	// a password. Empty, and PublishAuth nil, means no endpoint (404), the default.
	PublishKey string
	// PublishAuth, when set, turns on the publish endpoint too and decides whether a
	// request may publish (a signature, a header set by your proxy...): an error refuses
	// it with 401 (a *Error's message is shown, any other error's is logged). With
	// PublishKey also set, a request must pass both.
	PublishAuth func(r *http.Request) error
	// Claimer remembers the publish endpoint's Idempotency-Key headers for 24 hours on
	// every node, so that a retried request is delivered once whichever node takes it.
	// Nil means the Adapter's when it implements rooms.Claimer (the Redis and NATS ones
	// do), else rooms.NewMemoryClaimer(), which remembers keys for this node only.
	Claimer rooms.Claimer

	// Observer receives the server's events for metrics: sessions opened, resumed and
	// closed, refusals, traffic per transport, broadcasts, adapter publishes.
	// github.com/sockhop/sockhop/metrics turns them into Prometheus metrics. Nil means
	// none, at the cost of a nil check per event.
	Observer Observer

	// Logger receives log lines (README, "Logs", lists them). Nil means silent.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HandshakeTimeout, 10*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.ShutdownRetry, 5*time.Second)
	def(&o.SockJSDisconnectDelay, 5*time.Second)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 64 << 10
	}
	if o.MaxSessionsPerIP == 0 {
		o.MaxSessionsPerIP = 100
	} else if o.MaxSessionsPerIP < 0 {
		o.MaxSessionsPerIP = int(^uint(0) >> 1)
	}
	if o.ConnectRate == 0 {
		o.ConnectRate = 20
	}
	if o.ConnectBurst <= 0 {
		o.ConnectBurst = max(1, int(5*o.ConnectRate))
	}
	if o.IPv6PrefixLen == 0 {
		o.IPv6PrefixLen = 64
	}
	if o.MessageRate == 0 {
		o.MessageRate = 100
	}
	if o.MessageBurst <= 0 {
		o.MessageBurst = max(1, int(2*o.MessageRate))
	}
	if o.MaxRoomsPerSession <= 0 {
		o.MaxRoomsPerSession = 1000
	}
	def(&o.NodeHeartbeat, 2*time.Second)
	def(&o.NodeTTL, 3*o.NodeHeartbeat)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// sessionConfig returns the session settings of o, with the session package's defaults
// (the one place they are written) for the fields left at zero.
func (o *Options) sessionConfig() session.Config {
	resumeBytes := o.ResumeBytes
	if o.ResumeGrace < 0 {
		resumeBytes = -1
	}
	return session.Config{
		PingInterval:    o.PingInterval,
		PongTimeout:     o.PongTimeout,
		MinPingInterval: o.MinPingInterval,
		GoingAwayGrace:  o.GoingAwayGrace,
		MaxQueueBytes:   o.MaxQueueBytes,
		AckTimeout:      o.AckTimeout,
		MaxPendingAcks:  o.MaxPendingAcks,
		ResumeBytes:     resumeBytes,
		ResumeGrace:     max(0, o.ResumeGrace),
		RateLimit:       max(0, o.MessageRate),
		RateBurst:       o.MessageBurst,
	}.WithDefaults()
}
