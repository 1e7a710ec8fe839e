package sockjs

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
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
	// HoldSend, when set, is called for an xhr_send that is its session's body in flight,
	// before its body is read: it returns the function that releases what it took once the
	// body's frames are handed over, or nil when it refused the request (it has written the
	// refusal).
	HoldSend func(w http.ResponseWriter, r *http.Request) (release func())
	// SendTimeout is how long an xhr_send body may take to arrive, from the moment it is
	// its session's turn; a slower one is answered 408 and its transport is closed. Zero
	// means 10s.
	SendTimeout time.Duration
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
	if opts.SendTimeout == 0 {
		opts.SendTimeout = 10 * time.Second
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

// sessionPath matches the session endpoints below the prefix, with PROTOCOL.md §1's ids:
// a server id of three digits or a node id ("n" and 3 to 31 of [a-z0-9]), and a session id
// of 8 to 64 characters of [A-Za-z0-9_-] (sockjs-client's are 8, sockhop's clients' 12 or
// 16). The server id is not part of the session's identity: requests of one session may
// name different ones (a client names the node once it knows it).
var sessionPath = regexp.MustCompile(`^/([0-9]{3}|n[a-z0-9]{3,31})/([A-Za-z0-9_-]{8,64})/(xhr|xhr_send|xhr_streaming)$`)

// Serve serves a request whose path below the SockJS prefix is rest ("/info", "",
// "/123/abcdefgh/xhr_streaming"), whatever the public mount path is.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, rest string) {
	if !h.opts.CheckOrigin(r) {
		closeUnread(w, r) // a slow body is not read first
		http.Error(w, "sockhop: origin not allowed", http.StatusForbidden)
		return
	}
	m := sessionPath.FindStringSubmatch(rest)
	if rest == "/info" && r.Method == http.MethodGet {
		h.info(w)
		return
	}
	if m == nil && rest != "" && rest != "/info" {
		// Off means off: the iframe pages (which sockjs-go serves whatever transports are
		// on, cached for a year), the transports kept off, and session paths whose ids are
		// not PROTOCOL.md's never reach sockjs-go.
		closeUnread(w, r)
		http.NotFound(w, r)
		return
	}
	if m != nil && r.Method == http.MethodPost {
		sid, kind := m[2], m[3]
		key, ok := h.checkKey(w, r, sid)
		if !ok {
			return
		}
		if kind == "xhr_send" {
			h.xhrSend(w, r, sid)
			return
		}
		if h.opts.Admit != nil && h.conn(sid) == nil && !h.opts.Admit(w, r) {
			return
		}
		c, owner := h.receiver(sid, kind, key)
		if !owner {
			refuseKey(w, r)
			return
		}
		if c == nil {
			// Admit answers a draining server's new sessions itself, with the server's
			// hint; this is for one that came in as the server began to drain.
			w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(5)))
			closeUnread(w, r)
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
		// A page that unloads aborts its receiving request while the close message of its
		// pagehide (1001, in a keepalive xhr_send) is on its way: sockjs-go would end the
		// SockJS session on the abort at once, and the close would find it gone. The abort
		// reaches sockjs-go abortGrace later, so that the close is taken first.
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancel()
		stopLate := context.AfterFunc(r.Context(), func() { time.AfterFunc(abortGrace, cancel) })
		defer stopLate()
		r = r.WithContext(ctx)
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{}) // a long poll or stream is not a slow read
		w.Header().Set("X-Accel-Buffering", "no")
		w = &deadlineWriter{ResponseWriter: w, rc: rc, timeout: h.opts.WriteTimeout}
	}
	h.forward(w, r, rest)
}

// info answers GET info itself: sockjs-go's answer would say "websocket":true for the
// transport sockhop keeps off, and would add CORS headers for any origin.
// abortGrace is how long after a client aborted a receiving request sockjs-go sees it.
const abortGrace = 300 * time.Millisecond

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

func (h *Handler) conn(sid string) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[sid]
}

// receiver records a receiving request (a poll or a stream) for session sid, creating
// the Conn for a new session, bound to key (nil while draining). The caller must call
// detach. It reports false, and records nothing, when the session has another key.
func (h *Handler) receiver(sid, kind string, key *keySum) (*Conn, bool) {
	name := transport.XHRStreaming
	if kind == "xhr" {
		name = transport.XHRPolling
	}
	h.mu.Lock()
	c := h.conns[sid]
	if c == nil {
		if h.draining.Load() {
			h.mu.Unlock()
			return nil, true
		}
		c = &Conn{key: *key, ready: make(chan struct{}), started: make(chan struct{}), in: make(chan []byte), sendTurn: make(chan struct{}, 1), sendNext: make(chan struct{}, 1)}
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
	if !c.owns(key) { // made by another request since checkKey looked
		return nil, false
	}
	c.attach(name)
	return c, true
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
