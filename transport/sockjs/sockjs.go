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
	"strconv"
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
	// Admit, when set, decides whether a request may create a new session, and may wait
	// before it does; when it reports false it has written the refusal.
	Admit func(w http.ResponseWriter, r *http.Request) bool
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
			h.send(w, r, sid)
			return
		}
		if h.opts.Admit != nil && h.conn(sid) == nil && !h.opts.Admit(w, r) {
			return
		}
		c := h.receiver(sid, kind)
		if c == nil {
			http.Error(w, "sockhop: server shutting down", http.StatusServiceUnavailable)
			return
		}
		if c.retried(r) {
			// A browser sends a receiving request again, silently, when the connection of
			// the first broke before any byte of the answer arrived; what the server wrote
			// into that answer is lost. Drop the transport: the client resumes and gets
			// those messages again.
			c.detach()
			w.Header().Set("Content-Type", "application/javascript; charset=UTF-8")
			_, _ = io.WriteString(w, "c[1006,\"receive request retried\"]\n")
			if c.isStarted() {
				_ = c.Close(events.CloseAbnormal, "receive request retried")
			}
			return
		}
		defer c.detach()
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
func (h *Handler) send(w http.ResponseWriter, r *http.Request, sid string) {
	c := h.conn(sid)
	if c != nil && !c.isStarted() {
		// The client saw the open frame before sockjs-go's goroutine started the session.
		t := time.NewTimer(h.opts.DisconnectDelay)
		select {
		case <-c.started:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	if c == nil || !c.isStarted() {
		http.Error(w, "sockhop: unknown session", http.StatusNotFound)
		return
	}
	// The body is a JSON array of frames: JSON escaping may make it larger than the frames
	// it carries, so the body gets room for that and each frame is checked on its own.
	max := 2*h.opts.MaxMessageSize + 1024
	if r.ContentLength > max {
		http.Error(w, "sockhop: message too big", http.StatusRequestEntityTooLarge)
		c.Close(events.CloseTooBig, "message too big")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		body = nil // parseSend reports a missing body too big
	} else if err != nil {
		http.Error(w, "sockhop: reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	frames, bad := parseSend(body, err != nil, h.opts.MaxMessageSize)
	if bad != nil {
		http.Error(w, "sockhop: "+bad.Reason, bad.status)
		if bad.Code != 0 {
			c.Close(bad.Code, bad.Reason)
		}
		return
	}
	// One body at a time, in full: a client's next xhr_send must not overtake the frames
	// of this one, and a retry of this one must wait until they are through.
	select {
	case c.sendTurn <- struct{}{}:
	case <-c.ctx.Done():
		http.Error(w, "sockhop: session closed", http.StatusNotFound)
		return
	case <-r.Context().Done():
		return // nothing of this body was taken: a retry brings it again
	}
	defer func() { <-c.sendTurn }()
	// A client numbers its sends (?s=1, 2, …): a browser may send a POST again on a new
	// connection when the first one broke, and the frames must not be handled twice.
	if n, err := strconv.ParseUint(r.URL.Query().Get("s"), 10, 64); err == nil && n > 0 {
		c.mu.Lock()
		dup := n <= c.lastSend
		if !dup {
			c.lastSend = n
		}
		c.mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	// The frames go straight to the session's reader: sockjs-go would decode the body a
	// second time and buffer it without bound. Once the body is read the frames are the
	// session's, even if the client gives up on this request: its retry is dropped as a
	// duplicate, so stopping halfway would lose the rest.
	for _, f := range frames {
		select {
		case c.in <- f:
		case <-c.ctx.Done():
			// The transport ended: what the reader did not take is not counted as
			// received, so the client sends it again after a resume.
			http.Error(w, "sockhop: session closed", http.StatusNotFound)
			return
		}
	}
	if origin := r.Header.Get("Origin"); origin != "" { // allowed by the check above
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	w.WriteHeader(http.StatusNoContent)
}

// sendError is why an xhr_send body was refused: an HTTP status, and the close code the
// session gets (0: the session goes on).
type sendError struct {
	status int
	events.CloseError
}

// parseSend checks an xhr_send body: a JSON array of valid UTF-8 frames of at most max
// bytes each. tooBig says the body was over its own limit.
func parseSend(body []byte, tooBig bool, max int64) ([][]byte, *sendError) {
	refuse := func(status, code int, reason string) *sendError {
		return &sendError{status: status, CloseError: events.CloseError{Code: code, Reason: reason}}
	}
	if tooBig {
		return nil, refuse(http.StatusRequestEntityTooLarge, events.CloseTooBig, "message too big")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, refuse(http.StatusBadRequest, 0, "payload expected")
	}
	if !events.ValidUTF8(body) {
		return nil, refuse(http.StatusBadRequest, events.CloseInvalidPayload, "invalid UTF-8")
	}
	var strs []string
	if err := json.Unmarshal(body, &strs); err != nil {
		return nil, refuse(http.StatusBadRequest, events.CloseProtocolError, "body must be a JSON array of strings")
	}
	frames := make([][]byte, 0, len(strs))
	for _, f := range strs {
		if int64(len(f)) > max {
			return nil, refuse(http.StatusRequestEntityTooLarge, events.CloseTooBig, "message too big")
		}
		if !events.ValidUTF8([]byte(f)) { // an escaped invalid sequence
			return nil, refuse(http.StatusBadRequest, events.CloseInvalidPayload, "invalid UTF-8")
		}
		frames = append(frames, []byte(f))
	}
	return frames, nil
}

func (h *Handler) conn(sid string) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[sid]
}

// receiver records a receiving request (a poll or a stream) for session sid, creating
// the Conn for a new session (nil while draining). The caller must call detach.
func (h *Handler) receiver(sid, kind string) *Conn {
	name := transport.XHRStreaming
	if kind == "xhr" {
		name = transport.XHRPolling
	}
	h.mu.Lock()
	c := h.conns[sid]
	if c == nil {
		if h.draining.Load() {
			h.mu.Unlock()
			return nil
		}
		c = &Conn{ready: make(chan struct{}), started: make(chan struct{}), in: make(chan []byte), sendTurn: make(chan struct{}, 1)}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		h.conns[sid] = c
		// sockjs-go starts the session on this request; if it never does (a request that
		// failed early), forget the Conn after the session would have timed out anyway.
		time.AfterFunc(2*h.opts.DisconnectDelay, func() {
			select {
			case <-c.started:
			default:
				h.mu.Lock()
				if h.conns[sid] == c {
					delete(h.conns, sid)
				}
				h.mu.Unlock()
				c.cancel()
			}
		})
	}
	h.mu.Unlock()
	c.attach(name)
	return c
}

// handle runs on sockjs-go's goroutine for each new SockJS session.
func (h *Handler) handle(s sj.Session) {
	h.mu.Lock()
	c := h.conns[s.ID()]
	switch {
	case c == nil: // only when the Conn was forgotten: the session is over
		h.mu.Unlock()
		_ = s.Close(uint32(events.CloseGoingAway), "session expired")
		return
	case c.isStarted(): // sockjs-go made a new session under an id that had one
		h.mu.Unlock()
		_ = s.Close(uint32(events.CloseAbnormal), "session lost: id reused") // the client starts over
		return
	}
	c.s = s
	close(c.started)
	h.mu.Unlock()
	stop := context.AfterFunc(s.Context(), c.cancel)
	defer func() {
		stop()
		c.cancel()
		// The client's next poll still belongs to this session: it collects the close
		// frame, even while the server drains. Forget the session only after that.
		time.AfterFunc(h.opts.DisconnectDelay, func() {
			h.mu.Lock()
			if h.conns[s.ID()] == c {
				delete(h.conns, s.ID())
			}
			h.mu.Unlock()
		})
	}()
	h.accept(c, s.Request())
}

// Conn is one SockJS session seen as a transport connection; it implements
// [transport.Conn].
type Conn struct {
	s       sj.Session         // set once before started is closed
	in      chan []byte        // frames from xhr_send -> ReadFrame
	started chan struct{}      // closed when sockjs-go started the session
	ctx     context.Context    // cancelled when the session ends
	cancel  context.CancelFunc //

	mu        sync.Mutex
	name      string        // transport of the latest receiving request; guarded by mu
	receivers int           // receiving requests in flight; guarded by mu
	ready     chan struct{} // closed while receivers > 0; guarded by mu
	completed uint64        // receiving requests that ended; guarded by mu
	ended     chan struct{} // closed at the next end of a receiving request; guarded by mu
	finalSent bool          // WriteFinal ran; guarded by mu
	finalAt   uint64        // completed when it did; guarded by mu
	lastSend  uint64        // highest xhr_send number seen (?s=N), to drop retried POSTs; guarded by mu
	sendTurn  chan struct{} // cap 1: held by the xhr_send handing its frames to the reader
	lastPoll  uint64        // highest receiving request number seen (?p=N); guarded by mu

	closeOnce sync.Once
	closed    atomic.Pointer[events.CloseError] // why the guard closed it, for ReadFrame
}

var (
	_ transport.Conn        = (*Conn)(nil)
	_ transport.FinalWriter = (*Conn)(nil)
)

// Name reports the receiving transport the session uses now.
func (c *Conn) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// retried reports whether r repeats a receiving request number (?p=N) already seen.
func (c *Conn) retried(r *http.Request) bool {
	n, err := strconv.ParseUint(r.URL.Query().Get("p"), 10, 64)
	if err != nil || n == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= c.lastPoll {
		return true
	}
	c.lastPoll = n
	return false
}

func (c *Conn) isStarted() bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

func (c *Conn) attach(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.name = name
	c.receivers++
	if c.receivers == 1 {
		close(c.ready)
	}
}

func (c *Conn) detach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receivers--
	if c.receivers == 0 {
		c.ready = make(chan struct{})
	}
	c.completed++
	if c.ended != nil {
		close(c.ended)
		c.ended = nil
	}
}

// ReadFrame returns the next frame from xhr_send.
func (c *Conn) ReadFrame() ([]byte, error) {
	select {
	case f := <-c.in:
		return f, nil
	case <-c.ctx.Done():
		if ce := c.closed.Load(); ce != nil {
			return nil, ce
		}
		return nil, transport.ErrClosed
	}
}

// WriteFrame hands msgs, joined by '\n', to the session as one SockJS message. It waits
// until a receiving request (a stream or a poll) is there to carry it: sockjs-go would
// buffer without bound for a client that stops polling, while sockhop's own queue is
// bounded and closes such a session as a slow consumer.
func (c *Conn) WriteFrame(msgs [][]byte) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	select {
	case <-ready:
	case <-c.ctx.Done():
		return transport.ErrClosed
	}
	return c.send(msgs)
}

// WriteFinal is WriteFrame for a session's last frame: it waits for a receiving request
// at most finalWait (sockjs-go drops what it buffered when the session closes), so a
// client that stopped polling does not hold up a Shutdown.
func (c *Conn) WriteFinal(msgs [][]byte) error {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	t := time.NewTimer(finalWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-c.ctx.Done():
		return transport.ErrClosed
	}
	c.mu.Lock()
	c.finalAt, c.finalSent = c.completed, true
	c.mu.Unlock()
	return c.send(msgs)
}

// awaitFinal waits, at most finalWait, until a poll has carried the final frame away:
// sockjs-go drops what it still buffers when the session closes.
func (c *Conn) awaitFinal() {
	t := time.NewTimer(finalWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		if !c.finalSent || c.name != transport.XHRPolling || c.completed > c.finalAt {
			c.mu.Unlock()
			return
		}
		if c.ended == nil {
			c.ended = make(chan struct{})
		}
		ended := c.ended
		c.mu.Unlock()
		select {
		case <-ended:
		case <-t.C:
			return
		}
	}
}

// finalWait bounds how long a session's close message waits for the client's next poll.
const finalWait = time.Second

func (c *Conn) send(msgs [][]byte) error {
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
		case events.CloseTooBig, events.CloseInvalidPayload, events.CloseProtocolError:
			c.closed.Store(&events.CloseError{Code: code, Reason: reason})
		}
		c.cancel() // first: frees a reader and a writer waiting on us at once
		c.awaitFinal()
		err = c.s.Close(uint32(code), reason)
	})
	return err
}

// deadlineWriter renews the connection's write deadline before every write, so a stalled
// peer costs at most the write timeout and http.Server.WriteTimeout does not end a stream.
type deadlineWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	timeout     time.Duration
	wroteHeader bool
}

// noTransform is the Cache-Control of streams and polls: no-transform keeps compressing
// or rewriting proxies from holding the stream back.
const noTransform = "no-store, no-cache, no-transform, must-revalidate, max-age=0"

func (w *deadlineWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.Header().Set("Cache-Control", noTransform) // after sockjs-go set its own
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	_ = w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
