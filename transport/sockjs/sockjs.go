// Package sockjs is sockhop's HTTP fallback transport: SockJS xhr-streaming and
// xhr-polling served by igm/sockjs-go, with its websocket, eventsource, htmlfile, jsonp
// and iframe transports off (sockhop's own WebSocket is transport/ws).
//
// A guard runs before sockjs-go sees a request, because sockjs-go itself has no incoming
// size limit, reflects any Origin with credentials in CORS, and lets a stalled peer block
// a write forever: the guard applies the Origin policy (403), caps xhr_send bodies (413,
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

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sj "github.com/igm/sockjs-go/v3/sockjs"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// Options configure a [Handler].
type Options struct {
	// MaxMessageSize caps an xhr_send body in bytes.
	MaxMessageSize int64
	// WriteTimeout bounds every response write.
	WriteTimeout time.Duration
	// CheckOrigin reports whether the request's Origin is allowed; it must not be nil.
	CheckOrigin func(r *http.Request) bool
	// DisconnectDelay is how long a SockJS session waits for its next receiving request
	// before it closes. Zero means 5s, the SockJS default.
	DisconnectDelay time.Duration
	// ResponseLimit is how many bytes an xhr-streaming response carries before the server
	// ends it and the client opens the next one. Zero means 128 KiB.
	ResponseLimit uint32
	// JSessionID sets the JSESSIONID cookie that sticky load balancers route on.
	JSessionID bool
}

// Handler serves the SockJS endpoints below a mount path. Its ServeHTTP expects the path
// relative to the SockJS prefix ("/info", "/123/abcdefgh/xhr"); see [Handler.Serve].
type Handler struct {
	opts     Options
	sj       *sj.Handler
	accept   func(*Conn, *http.Request)
	draining atomic.Bool

	mu    sync.Mutex
	conns map[string]*Conn // by SockJS session id
}

// prefix is the path sockjs-go is given; requests are rewritten to it, so the public mount
// path never has to be configured twice.
const prefix = "/sockjs"

// New returns a Handler that calls accept, on a goroutine of its own, for every new
// session once its first receiving request arrives. accept owns the Conn until it returns.
func New(opts Options, accept func(*Conn, *http.Request)) *Handler {
	if opts.DisconnectDelay == 0 {
		opts.DisconnectDelay = 5 * time.Second
	}
	if opts.ResponseLimit == 0 {
		opts.ResponseLimit = 128 * 1024
	}
	h := &Handler{opts: opts, accept: accept, conns: make(map[string]*Conn)}
	so := sj.Options{
		Websocket:           false,
		RawWebsocket:        false,
		DisableEventSource:  true,
		DisableHtmlFile:     true,
		DisableJSONP:        true,
		HeartbeatDelay:      0, // sockhop's own ping/pong keeps every transport alive
		DisconnectDelay:     opts.DisconnectDelay,
		ResponseLimit:       opts.ResponseLimit,
		CheckOrigin:         opts.CheckOrigin,
		SockJSURL:           "",
		WebsocketUpgrader:   nil,
		DisableXHR:          false,
		DisableXHRStreaming: false,
	}
	if opts.JSessionID {
		so.JSessionID = sj.DefaultJSessionID
	}
	h.sj = sj.NewHandler(prefix, so, h.handle)
	return h
}

// Drain makes the handler refuse new sessions with 503, for a server shutting down.
func (h *Handler) Drain() { h.draining.Store(true) }

// sessionPath matches the session endpoints below the prefix.
var sessionPath = regexp.MustCompile(`^/([^/.]+)/([^/.]+)/(xhr|xhr_send|xhr_streaming)$`)

// Serve serves a request whose path below the SockJS prefix is rest ("/info", "",
// "/123/abcdefgh/xhr_streaming"), whatever the public mount path is.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, rest string) {
	if !h.opts.CheckOrigin(r) {
		http.Error(w, "sockhop: origin not allowed", http.StatusForbidden)
		return
	}
	m := sessionPath.FindStringSubmatch(rest)
	if rest == "/info" && r.Method == http.MethodGet {
		h.info(w)
		return
	}
	if m != nil && r.Method == http.MethodPost {
		sid, kind := m[2], m[3]
		if kind == "xhr_send" {
			h.send(w, r, rest, sid)
			return
		}
		if h.draining.Load() && h.conn(sid) == nil {
			http.Error(w, "sockhop: server shutting down", http.StatusServiceUnavailable)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{}) // a long poll or stream is not a slow read
		w.Header().Set("X-Accel-Buffering", "no")
		w = &deadlineWriter{ResponseWriter: w, rc: rc, timeout: h.opts.WriteTimeout}
	}
	h.forward(w, r, rest)
}

// info answers GET info itself: sockjs-go's answer would say "websocket":true for the
// transport sockhop keeps off, and would add CORS headers for any origin.
func (h *Handler) info(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"websocket":     false,
		"cookie_needed": h.opts.JSessionID,
		"origins":       []string{"*:*"},
		"entropy":       time.Now().UnixNano() & 0x7fffffff,
	})
}

func (h *Handler) forward(w http.ResponseWriter, r *http.Request, rest string) {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = prefix+rest, ""
	r2.URL = &u
	h.sj.ServeHTTP(w, r2)
}

// send guards xhr_send: the body is read here, bounded, and checked before sockjs-go
// decodes it.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, rest, sid string) {
	c := h.conn(sid)
	if c == nil {
		http.Error(w, "sockhop: unknown session", http.StatusNotFound)
		return
	}
	max := h.opts.MaxMessageSize
	if r.ContentLength > max {
		http.Error(w, "sockhop: message too big", http.StatusRequestEntityTooLarge)
		c.Close(events.CloseTooBig, "message too big")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "sockhop: message too big", http.StatusRequestEntityTooLarge)
		c.Close(events.CloseTooBig, "message too big")
		return
	case err != nil:
		http.Error(w, "sockhop: reading body: "+err.Error(), http.StatusBadRequest)
		return
	case !events.ValidUTF8(body):
		http.Error(w, "sockhop: invalid UTF-8", http.StatusBadRequest)
		c.Close(events.CloseInvalidPayload, "invalid UTF-8")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.forward(w, r, rest)
}

func (h *Handler) conn(sid string) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[sid]
}

// handle runs on sockjs-go's goroutine for each new SockJS session.
func (h *Handler) handle(s sj.Session) {
	ctx, cancel := context.WithCancel(s.Context())
	defer cancel()
	c := &Conn{s: s, ctx: ctx, cancel: cancel}
	h.mu.Lock()
	h.conns[s.ID()] = c
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, s.ID())
		h.mu.Unlock()
	}()
	h.accept(c, s.Request())
}

// Conn is one SockJS session seen as a transport connection; it implements
// [transport.Conn].
type Conn struct {
	s      sj.Session
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
	closed    atomic.Pointer[events.CloseError] // why the guard closed it, for ReadFrame
}

var _ transport.Conn = (*Conn)(nil)

// Name reports the receiving transport the session uses now.
func (c *Conn) Name() string {
	if c.s.ReceiverType() == sj.ReceiverTypeXHR {
		return transport.XHRPolling
	}
	return transport.XHRStreaming
}

// ReadFrame returns the next frame from xhr_send.
func (c *Conn) ReadFrame() ([]byte, error) {
	msg, err := c.s.RecvCtx(c.ctx)
	if err != nil {
		if ce := c.closed.Load(); ce != nil {
			return nil, ce
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, sj.ErrSessionNotOpen) {
			return nil, transport.ErrClosed
		}
		return nil, err
	}
	return []byte(msg), nil
}

// WriteFrame hands msgs, joined by '\n', to the session as one SockJS message; it goes out
// at once on an attached stream or poll, or with the next poll.
func (c *Conn) WriteFrame(msgs [][]byte) error {
	var b strings.Builder
	n := len(msgs)
	for _, m := range msgs {
		n += len(m)
	}
	b.Grow(n)
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(m)
	}
	return c.s.Send(b.String())
}

// Close closes the SockJS session with a c[code,reason] frame.
func (c *Conn) Close(code int, reason string) error {
	err := transport.ErrClosed
	c.closeOnce.Do(func() {
		switch code {
		case events.CloseTooBig, events.CloseInvalidPayload:
			c.closed.Store(&events.CloseError{Code: code, Reason: reason})
		}
		err = c.s.Close(uint32(code), reason)
		c.cancel()
	})
	return err
}

// deadlineWriter renews the connection's write deadline before every write, so a stalled
// peer costs at most the write timeout and http.Server.WriteTimeout does not end a stream.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	_ = w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
