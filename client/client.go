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
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
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
	// OpenTimeout bounds each transport attempt, from the request to the welcome; past it
	// the client tries the next transport. Zero means 3s, as in the JS client.
	OpenTimeout time.Duration
	// Auth is sent in the hello for the server's authentication hook.
	Auth any
	// NoReconnect stops the client at the first disconnect.
	NoReconnect bool
	// MinBackoff and MaxBackoff bound the reconnect delay (exponential, full jitter).
	// Zero means 500ms and 20s.
	MinBackoff, MaxBackoff time.Duration
	// AckTimeout bounds EmitWithAck when its context has no earlier deadline. Zero means 10s.
	AckTimeout time.Duration
	// MaxQueueBytes bounds the send queue. Zero means 1 MiB.
	MaxQueueBytes int
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
	onResumeFailed []func()
	transport      string
	closed         bool
	stop           chan struct{} // closed by Close
	done           chan struct{} // closed when the run loop ends
	err            error         // why the client stopped
	started        bool
	from           int // the transport connect tries first; owned by the goroutine that connects
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		url:      url,
		opts:     opts,
		log:      opts.Logger,
		handlers: make(map[string]func(context.Context, json.RawMessage) (any, error)),
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

// Emit sends event name with v encoded as JSON. It queues and does not wait.
func (c *Client) Emit(ctx context.Context, name string, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	core, err := c.current()
	if err != nil {
		return err
	}
	return core.Emit(name, data)
}

// EmitWithAck sends event name with v and waits for the server's reply. An error reply
// comes back as *events.ErrorBody (sockhop.Error on the server).
func (c *Client) EmitWithAck(ctx context.Context, name string, v any) (json.RawMessage, error) {
	data, err := marshal(v)
	if err != nil {
		return nil, err
	}
	core, err := c.current()
	if err != nil {
		return nil, err
	}
	return core.Request(ctx, name, data)
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

// run serves the session on one transport after another until the client stops. A
// dropped transport is followed by a resume of the same session on the next one.
func (c *Client) run(conn transport.Conn, core *session.Session, lines [][]byte) {
	defer close(c.done)
	attempt := 0
	for {
		c.fire(true, nil)
		reason := core.Serve(conn, lines)
		c.mu.Lock()
		c.transport = ""
		closed := c.closed
		c.mu.Unlock()
		c.fire(false, reason)
		ended := core.Err() != nil
		if closed || c.opts.NoReconnect || (ended && !events.Reconnect(events.CloseCode(reason))) {
			core.Abort(&events.CloseError{Code: events.CloseNormal, Reason: "client stopped"})
			c.mu.Lock()
			c.core = nil
			c.mu.Unlock()
			c.finish(reason)
			return
		}
		if ended {
			c.mu.Lock()
			c.core = nil
			c.mu.Unlock()
		}
		retry := retryHint(reason)
		for {
			delay := retry
			if delay == 0 {
				delay = c.backoff(attempt)
			}
			retry = 0
			attempt++
			select {
			case <-time.After(delay):
			case <-c.stop:
				c.abandon()
				c.finish(ErrClosed)
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			var err error
			conn, core, lines, err = c.connect(ctx)
			cancel()
			if err == nil {
				attempt = 0
				break
			}
			if events.CloseCode(err) != 0 && !events.Reconnect(events.CloseCode(err)) {
				c.abandon()
				c.finish(err)
				return
			}
			retry = retryHint(err)
			c.log.Info("reconnect failed", "attempt", attempt, "err", err)
		}
	}
}

// pause waits d, or returns why not: ctx would end first (its error), or Close (ErrClosed).
func (c *Client) pause(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return ErrClosed
	}
}

// retryHint is how long the server asked the client to wait before its next try: a close's
// retry field or an HTTP Retry-After; zero when it said nothing.
func retryHint(err error) time.Duration {
	var ce *events.CloseError
	if errors.As(err, &ce) && ce.Retry > 0 {
		return time.Duration(ce.Retry) * time.Millisecond
	}
	var he *dial.HTTPError
	if errors.As(err, &he) {
		return he.RetryAfter
	}
	return 0
}

// abandon ends a detached session that will not resume.
func (c *Client) abandon() {
	c.mu.Lock()
	core := c.core
	c.core = nil
	c.mu.Unlock()
	if core != nil {
		core.Abort(&events.CloseError{Code: events.CloseNormal, Reason: "client stopped"})
	}
}

func (c *Client) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// backoff is exponential from MinBackoff to MaxBackoff with full jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.MinBackoff << min(attempt, 20)
	if d <= 0 || d > c.opts.MaxBackoff {
		d = c.opts.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
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

// connect tries the transports in order until one delivers a welcome, starting with the
// one that last asked the client to come back later. It stops at a transport on which the
// server refused the client (a terminal close code, an HTTP 403: another transport would
// not help) or asked it to come back later (429, 503, a close before the welcome: see
// comeBack); the next connect then starts with that transport again. The error carries
// the close code of such an answer (PROTOCOL.md §5, HTTP refusals).
func (c *Client) connect(ctx context.Context) (transport.Conn, *session.Session, [][]byte, error) {
	var errs []error
	names := c.opts.Transports
	from := min(c.from, len(names)-1)
	c.from = 0
	for i := from; i < len(names); i++ {
		conn, core, lines, err := c.open(ctx, names[i])
		if err == nil {
			return conn, core, lines, nil
		}
		code := events.CloseCode(err)
		switch {
		case code != 0 && !events.Reconnect(code):
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %s: refused, no other transport tried: %w", c.url, names[i], err)
		case comeBack(code):
			c.from = i
			return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %s: come back later: %w", c.url, names[i], err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", names[i], err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, nil, fmt.Errorf("sockhop/client: connect %s: %w", c.url, errors.Join(errs...))
}

// comeBack reports whether a connection attempt that failed with close code means "the
// server is there on this transport and asks the client to come back later": an HTTP 429
// or 503 (1013, 1001) or a close before the welcome with a reconnect code. The client
// keeps its session, waits as asked (the retry hint, Retry-After, or its backoff) and
// tries the same transport again; walking down the transport ladder would not help. A
// dropped transport (1006, 1005, or no code) is not such an answer.
func comeBack(code int) bool {
	return code != 0 && code != events.CloseAbnormal && code != events.CloseNoStatus && events.Reconnect(code)
}

// open dials one transport and runs the handshake.
func (c *Client) open(ctx context.Context, name string) (transport.Conn, *session.Session, [][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	c.mu.Lock()
	old, token := c.core, c.token
	c.mu.Unlock()
	resume := old != nil && old.Err() == nil
	conn, err := dial.Dial(ctx, c.url, name, dial.Options{Header: c.opts.Header, HTTPClient: c.opts.HTTPClient, Resume: resume})
	if err != nil {
		return nil, nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close(events.CloseNormal, "open timeout") })
	defer stop()
	hello := &events.Message{T: events.TypeHello, V: events.Version}
	if resume {
		hello.Resume = &events.Resume{SID: old.ID(), Token: token, Seq: old.ReceivedSeq()}
	}
	if c.opts.Auth != nil {
		if hello.Auth, err = json.Marshal(c.opts.Auth); err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, nil, nil, err
		}
	}
	if err := conn.WriteFrame([][]byte{events.Encode(hello)}); err != nil {
		_ = conn.Close(events.CloseNormal, "")
		return nil, nil, nil, err
	}
	var welcome *events.Message
	var rest [][]byte
	for welcome == nil {
		frame, err := conn.ReadFrame()
		if err != nil {
			_ = conn.Close(events.CloseNormal, "")
			if ctx.Err() != nil {
				return nil, nil, nil, fmt.Errorf("no welcome within %v", c.opts.OpenTimeout)
			}
			return nil, nil, nil, err
		}
		err = events.Lines(frame, func(line []byte) error {
			if welcome != nil {
				rest = append(rest, line)
				return nil
			}
			m, err := events.Decode(line)
			if err != nil {
				return err
			}
			switch m.T {
			case events.TypeWelcome:
				welcome = &m
			case events.TypeClose:
				return &events.CloseError{Code: m.Code, Reason: m.Reason, Retry: m.Retry, Err: m.Err}
			}
			return nil
		})
		if err != nil {
			_ = conn.Close(events.CloseNormal, "")
			return nil, nil, nil, err
		}
	}
	if !stop() { // the timeout fired and closed conn
		return nil, nil, nil, fmt.Errorf("no welcome within %v", c.opts.OpenTimeout)
	}
	var core *session.Session
	resumeFailed := false
	switch {
	case welcome.Resumed && old != nil && welcome.SID == old.ID() && old.Resume(welcome.R, nil):
		core = old
	case welcome.Resumed: // the server resumed what this client can no longer replay
		_ = conn.Close(events.CloseNormal, "resume mismatch")
		c.abandon()
		return nil, nil, nil, errors.New("sockhop/client: resume failed on the client side; starting a new session")
	default:
		if old != nil {
			old.Abort(&events.CloseError{Code: events.CloseAbnormal, Reason: "the server could not resume the session"})
			resumeFailed = true
		}
		core = session.New(context.Background(), welcome.SID, session.Config{
			PingInterval:  time.Duration(welcome.Ping) * time.Millisecond,
			PongTimeout:   time.Duration(welcome.Pong) * time.Millisecond,
			MaxQueueBytes: c.opts.MaxQueueBytes,
			MaxFrameBytes: welcome.Max,
			AckTimeout:    c.opts.AckTimeout,
			Passive:       true,
			Logger:        c.log,
		}, session.HandlerFunc(c.handle))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = conn.Close(events.CloseNormal, "client closed")
		return nil, nil, nil, ErrClosed
	}
	c.core, c.transport, c.token = core, conn.Name(), welcome.Token
	c.mu.Unlock()
	if resumeFailed {
		c.fireResumeFailed() // after the new session is in place, for a callback that uses it
	}
	return conn, core, rest, nil
}

// OnResumeFailed adds f to the functions run when the client reconnected but the server
// could not resume the session (grace expired, buffer overflowed, server restarted): the
// new session starts empty, messages in flight were lost, pending EmitWithAck calls
// failed, so the app should refetch its state.
func (c *Client) OnResumeFailed(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onResumeFailed = append(c.onResumeFailed, f)
}

func (c *Client) fireResumeFailed() {
	c.mu.Lock()
	fs := c.onResumeFailed
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func (c *Client) handle(ctx context.Context, m *events.Message) {
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
	reply, err := h(ctx, m.Data)
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
	data, err := marshal(reply)
	if err != nil {
		_ = core.Reply(m.ID, nil, &events.ErrorBody{Code: "internal", Message: "internal error"})
		return
	}
	_ = core.Reply(m.ID, data, nil)
}
