// Package client is the Go client of sockhop: it connects to a sockhop server over
// WebSocket, SockJS xhr-streaming or SockJS xhr-polling (trying them in order), sends and
// receives named events with acks, answers heartbeats and reconnects with backoff.
//
//	c, err := client.Dial(ctx, "http://127.0.0.1:8080/rt", client.Options{})
//	c.On("chat", func(ctx context.Context, data json.RawMessage) { ... })
//	reply, err := c.EmitWithAck(ctx, "echo", "hi")
//
// Register handlers before the first message can arrive with [New], [Client.On] and
// [Client.Connect]; [Dial] is New plus Connect.
//
// # URLs
//
// For the server mounted at M, WebSocket dials M/ws; SockJS posts to
// M/sockjs/<server>/<session>/xhr_streaming, /xhr and /xhr_send, a new <session> id (and
// key) for each transport connection. When the server is one node of several behind a
// load balancer (PROTOCOL.md §7, "Many nodes"), the client names the session's node so
// that every request is served there: <server> is three random digits until a SockJS
// answer's X-Sockhop-Node names the node, and that node from then on; a resume names the
// node of the last welcome from the start, as <server> or as M/ws?node=<id>. A new
// session names none.
//
// # Transport ladder
//
// Connect tries the transports in order, but does not wait out each one's OpenTimeout: it
// measures the round trip on its first request (GET M/sockjs/info, beside the first
// attempt) and, when a transport has no welcome after 250ms + 3 round trips (at least
// 300ms, at most OpenTimeout), starts the next one beside it. The first transport the
// server welcomes wins; an attempt that has not sent its hello yet stops there, one
// welcomed later is closed at once (a close message ends the server session it opened).
// [Options.OnAttempt] reports each attempt, [Client.RTT] the round trip. On WebSocket a
// new session's hello without auth rides in the upgrade (PROTOCOL.md §3): the welcome
// follows the upgrade, a round trip sooner.
//
// # Transport changes
//
// A session served on a fallback probes the first transport again after
// [Options.UpgradeDelay] (with backoff and jitter) and moves onto it through a resume when
// the server welcomes the probe (background upgrade). A transport that stops delivering
// (a ping unanswered for [Options.StallTimeout]) is closed and the session resumes on the
// next transport at once (live downgrade). Neither loses or duplicates a message; both
// are reported to [Client.OnTransportChange], not to OnDisconnect and OnConnect.
//
// # Subscriptions
//
// [Client.Subscribe] joins a room where the server's Channel rule allows it (PROTOCOL.md
// §9). The client keeps its subscriptions and, for durable rooms, the position of the last
// message taken (durable messages it already has are dropped, not handled twice); after
// every new session it subscribes again from those positions and reports each result,
// with Recovered, to [Client.OnSubscribe]. [Client.Positions] and [Options.Positions]
// carry the positions over to another process.
//
// # Concurrency
//
// All methods may be called concurrently. Handlers run one at a time, in the order the
// server sent the events, on a goroutine of the client's.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
)

// Transport names.
const (
	WebSocket    = transport.WebSocket
	XHRStreaming = transport.XHRStreaming
	XHRPolling   = transport.XHRPolling
)

// Options configure a Client. The zero value tries every transport and reconnects.
type Options struct {
	// Transports lists the transports to try, in order. Nil means WebSocket, XHRStreaming,
	// XHRPolling.
	Transports []string
	// Header is sent with every request (Origin, Cookie, Authorization...).
	Header http.Header
	// HTTPClient carries the SockJS requests and its TLS config serves WebSocket too. Nil
	// means a client of the Client's own.
	HTTPClient *http.Client
	// OpenTimeout bounds each transport attempt, from the request to the welcome. Zero
	// means 3s, as in the JS client. It is also the upper bound of the scaled open
	// timeout: an attempt without a welcome after 250ms + 3 round trips (at least 300ms,
	// at most OpenTimeout; OpenTimeout until a round trip was measured) has the next
	// transport start in parallel, and the first welcomed wins (see "Transport ladder" in
	// the package documentation). An OpenTimeout under 300ms thus overrides the scaling.
	OpenTimeout time.Duration
	// OnAttempt, when set, is called at the end of every transport attempt of a connect,
	// from any goroutine: which transport, when it started, the scaled timeout it was
	// given, and how it ended. For diagnostics and tests.
	OnAttempt func(Attempt)
	// UpgradeDelay is the mean delay before a session served on a fallback transport
	// probes the first transport of Transports again (background upgrade): doubled after
	// each failed probe, up to 64 times, with ±50 % jitter. A welcomed probe resumes the
	// session on the better transport without loss or duplication and is reported to
	// OnTransportChange. Zero means 10s; negative turns background upgrades off.
	UpgradeDelay time.Duration
	// StallTimeout bounds how long a pong the client asked for may take before the
	// transport counts as stalled (a proxy that started buffering, a middlebox that holds
	// the stream), and the session moves to the next transport through resume (live
	// downgrade). The client asks (sends a ping) when a ping of the server is overdue
	// (nothing arrived for the welcome's ping interval and a quarter of it more, at most
	// 1s: an idle healthy session costs no extra pings), or for StallTimeout/2 while
	// frames stream or after it sent something. Zero means 500ms + 4 round trips, between
	// 1s and 5s and at most half the heartbeat timeout; so a stall is noticed within 31s
	// (26s + 5s at the default 25s ping, less on a fast path or under traffic), before the
	// heartbeat's 45s.
	// The last transport of Transports (the only one, say) is left to the heartbeat.
	// Negative turns stall detection off.
	StallTimeout time.Duration
	// Auth is sent in the hello for the server's authentication hook.
	Auth any
	// AuthFunc, when set, is called before every hello (the first connect, every
	// reconnect and resume) and its result is sent as the hello's auth instead of Auth:
	// it fetches fresh credentials, e.g. a short-lived token. After a close with
	// CloseAuthExpired (4003: the server's Identity.Expires passed) the client reconnects
	// with a new session, and so with what AuthFunc returns then. An error fails that
	// connection attempt without trying another transport: Connect returns it (wrapped);
	// a reconnect tries again after a backoff. ctx bounds the call.
	AuthFunc func(ctx context.Context) (any, error)
	// NoReconnect stops the client at the first disconnect.
	NoReconnect bool
	// MinBackoff and MaxBackoff bound the reconnect delay (exponential, full jitter).
	// Zero means 500ms and 20s.
	MinBackoff, MaxBackoff time.Duration
	// AckTimeout bounds EmitWithAck when its context has no earlier deadline. Zero means 10s.
	AckTimeout time.Duration
	// MaxQueueBytes bounds the send queue, which fills while the client is offline. Zero
	// means 1 MiB. An emit that does not fit is refused with ErrQueueFull; the session goes
	// on.
	MaxQueueBytes int
	// Positions are the positions in durable rooms that a client of an earlier process
	// took (Client.Positions, saved): Subscribe to one of these rooms catches up from
	// there (PROTOCOL.md §9). Nil means none.
	Positions map[string]Position
	// Logger receives log lines. Nil means silent.
	Logger *slog.Logger
}

// Errors of the client.
var (
	// ErrNotConnected is returned by emits while the client has no session (before the
	// first connect, or between sessions); while a session waits to resume, emits queue.
	ErrNotConnected = errors.New("sockhop/client: not connected")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("sockhop/client: closed")
)

// Client is a connection to a sockhop server that survives disconnects by reconnecting.
type Client struct {
	url  string
	opts Options
	log  *slog.Logger

	mu             sync.Mutex
	handlers       map[string]func(context.Context, json.RawMessage) (any, error)
	onConnect      []func()
	onDisconnect   []func(error)
	core           *session.Session // the current session, kept while its transport is down
	token          string           // its resume token
	node           string           // the node it lives on (its last welcome's), named when resuming
	onResumeFailed []func()
	transport      string
	closed         bool
	stop           chan struct{} // closed by Close
	done           chan struct{} // closed when the run loop ends
	err            error         // why the client stopped
	started        bool
	from           int           // the transport connect tries first; owned by the goroutine that connects
	rtt            time.Duration // the round-trip estimate; zero until measured
	onChange       []func(from, to string)
	ping, pong     int64               // the heartbeat of the last welcome, ms
	hb             heartbeat           // the learned heartbeat interval (heartbeat.go)
	serverPing     time.Duration       // the server's own ping interval (a welcome to a hello that asked none); guarded by mu
	subs           map[string]bool     // rooms subscribed to (Subscribe), made again after a new session; guarded by mu
	pos            map[string]Position // the position taken in each durable room; guarded by mu
	onSubscribe    []func(SubscribeResult, error)
}

// New returns a client for the server mounted at url ("http://host:port/rt"); it does not
// connect yet.
func New(url string, opts Options) *Client {
	if len(opts.Transports) == 0 {
		opts.Transports = []string{WebSocket, XHRStreaming, XHRPolling}
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 3 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 20 * time.Second
	}
	if opts.UpgradeDelay == 0 {
		opts.UpgradeDelay = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		url:      url,
		opts:     opts,
		log:      opts.Logger,
		handlers: make(map[string]func(context.Context, json.RawMessage) (any, error)),
		pos:      maps.Clone(opts.Positions),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// Dial connects to the server mounted at url and returns the connected client.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	c := New(url, opts)
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// On registers h for server event name; a later call for the same name replaces it.
func (c *Client) On(name string, h func(ctx context.Context, data json.RawMessage)) {
	c.OnRequest(name, func(ctx context.Context, data json.RawMessage) (any, error) {
		h(ctx, data)
		return nil, nil
	})
}

// OnRequest registers h for server event name; when the server asked for an ack
// (EmitWithAck), h's result is the reply. A *events.ErrorBody error is sent as is, any
// other as code "internal".
func (c *Client) OnRequest(name string, h func(ctx context.Context, data json.RawMessage) (any, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers[name] = h
}

// OnConnect adds f to the functions run after every successful connect, new session or
// resume, on the client's goroutine before the session starts reading: f must not wait
// for the server (EmitWithAck from f would wait for its timeout); start a goroutine for
// that.
func (c *Client) OnConnect(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onConnect = append(c.onConnect, f)
}

// OnDisconnect adds f to the functions run after every lost transport, with why; the
// session itself may resume on the next connect.
func (c *Client) OnDisconnect(f func(reason error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onDisconnect = append(c.onDisconnect, f)
}

// Connect connects for the first time, trying the transports in order, and then keeps
// the client connected in the background until Close or a terminal close code. A server
// that refuses the client (a terminal close code, or HTTP 403: the Origin is not allowed)
// ends it at once, without trying another transport. A server that asks it to come back
// later (HTTP 429 or 503, or a close before the welcome such as 1013) is asked again on
// the same transport after the wait it named (Retry-After, the close's retry) or a
// backoff, as long as ctx allows.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("sockhop/client: Connect called twice")
	}
	c.started = true
	c.mu.Unlock()
	conn, core, lines, err := c.connect(ctx)
	for attempt := 0; err != nil && comeBack(events.CloseCode(err)); attempt++ {
		// The server asked to come back later (429, 503, a close before the welcome): wait
		// as it said, or a backoff, and try the same transport again, while ctx allows.
		delay := retryHint(err)
		if delay <= 0 {
			delay = c.backoff(attempt)
		}
		if werr := c.pause(ctx, delay); werr != nil {
			if werr == ErrClosed {
				err = werr
			}
			break
		}
		refusal := err
		conn, core, lines, err = c.connect(ctx)
		if err != nil && ctx.Err() != nil && !comeBack(events.CloseCode(err)) {
			err = fmt.Errorf("%w, after the server asked to come back later: %w", err, refusal)
		}
	}
	if err != nil {
		close(c.done)
		return err
	}
	go c.run(conn, core, lines)
	return nil
}

// Transport names the transport in use ("" between connections).
func (c *Client) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transport
}

// SessionID returns the current session's id ("" between connections).
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.core == nil {
		return ""
	}
	return c.core.ID()
}

func (c *Client) current() (*session.Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.core == nil {
		return nil, ErrNotConnected
	}
	return c.core, nil
}

// Emit sends event name with v encoded as JSON, or as bytes for a []byte. It queues and
// does not wait; a full queue refuses it with ErrQueueFull.
func (c *Client) Emit(ctx context.Context, name string, v any) error {
	msg, err := encodeEvent(name, v, 0)
	if err != nil {
		return err
	}
	core, err := c.current()
	if err != nil {
		return err
	}
	return core.Send(msg, true)
}

// EmitWithAck sends event name with v and waits for the server's reply. An error reply
// comes back as *events.ErrorBody (sockhop.Error on the server).
func (c *Client) EmitWithAck(ctx context.Context, name string, v any) (json.RawMessage, error) {
	enc, err := eventEncoder(name, v)
	if err != nil {
		return nil, err
	}
	core, err := c.current()
	if err != nil {
		return nil, err
	}
	m, err := core.RequestMessage(ctx, name, enc)
	if err != nil {
		return nil, err
	}
	if m.B != nil {
		return json.Marshal(m.B) // a reply in bytes: a base64 JSON string, as a []byte decodes
	}
	return m.Data, nil
}

// Close ends the session with a normal close and stops reconnecting. It waits until the
// client's goroutines have stopped.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	close(c.stop)
	core := c.core
	c.mu.Unlock()
	if core != nil {
		core.Close(&events.CloseError{Code: events.CloseNormal, Reason: "client closed"})
	}
	<-c.done
	return nil
}

// Done is closed when the client has stopped for good: Close, a terminal close code, or
// NoReconnect and a disconnect.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped, after Done is closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func marshal(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(v)
}

func (c *Client) fire(connected bool, reason error) {
	c.mu.Lock()
	con, dis := c.onConnect, c.onDisconnect
	c.mu.Unlock()
	if connected {
		for _, f := range con {
			f()
		}
		return
	}
	for _, f := range dis {
		f(reason)
	}
}

func (c *Client) handle(ctx context.Context, m *events.Message) {
	if m.Pos != nil && m.Room != "" && !c.takePosition(m.Room, *m.Pos) {
		return // a durable message the client has (PROTOCOL.md §9)
	}
	c.mu.Lock()
	h := c.handlers[m.Name]
	core := c.core
	c.mu.Unlock()
	if h == nil {
		c.log.Debug("no handler", "event", m.Name)
		if m.ID != 0 && core != nil {
			_ = core.Reply(m.ID, nil, &events.ErrorBody{Code: "unknown_event", Message: "no handler for " + m.Name})
		}
		return
	}
	reply, err := h(withBytes(ctx, m), m.Data)
	if m.ID == 0 || core == nil {
		return
	}
	if err != nil {
		var e *events.ErrorBody
		if !errors.As(err, &e) {
			e = &events.ErrorBody{Code: "internal", Message: "internal error"}
		}
		_ = core.Reply(m.ID, nil, e)
		return
	}
	if b, ok := reply.([]byte); ok {
		_ = core.ReplyBytes(m.ID, b)
		return
	}
	data, err := marshal(reply)
	if err != nil {
		_ = core.Reply(m.ID, nil, &events.ErrorBody{Code: "internal", Message: "internal error"})
		return
	}
	_ = core.Reply(m.ID, data, nil)
}
