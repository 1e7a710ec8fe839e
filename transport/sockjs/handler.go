package sockjs

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
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

// sockjs-go is given the path below the SockJS prefix, whatever the public mount path is,
// with no prefix of its own: it then strips none (which copies every request twice).

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
		Websocket:          false,
		RawWebsocket:       false,
		DisableEventSource: true,
		DisableHtmlFile:    true,
		DisableJSONP:       true,
		HeartbeatDelay:     0, // sockhop's own ping/pong keeps every transport alive
		DisconnectDelay:    opts.DisconnectDelay,
		ResponseLimit:      opts.ResponseLimit,
		// The guard applied the Origin policy and sets the CORS headers itself: sockjs-go
		// would check the Origin a second time, and answer "*" for a request without one.
		CheckOrigin:         func(*http.Request) bool { return false },
		SockJSURL:           "",
		WebsocketUpgrader:   nil,
		DisableXHR:          false,
		DisableXHRStreaming: false,
	}
	if opts.JSessionID {
		so.JSessionID = sj.DefaultJSessionID
	}
	h.sj = sj.NewHandler("", so, h.handle)
	return h
}

// Drain makes the handler refuse new sessions with 503, for a server shutting down.
func (h *Handler) Drain() { h.draining.Store(true) }

// matchSession matches the session endpoints below the prefix, with PROTOCOL.md §1's ids:
// a server id of three digits or a node id ("n" and 3 to 31 of [a-z0-9]), and a session id
// of 8 to 64 characters of [A-Za-z0-9_-] (sockjs-client's are 8, sockhop's clients' 12 or
// 16). The server id is not part of the session's identity: requests of one session may
// name different ones (a client names the node once it knows it).
// It returns the session id and the transport (the regular expression
// ^/([0-9]{3}|n[a-z0-9]{3,31})/([A-Za-z0-9_-]{8,64})/(xhr|xhr_send|xhr_streaming)$, without
// an automaton and allocations for every request).
func matchSession(rest string) (sid, kind string, ok bool) {
	if len(rest) < 1 || rest[0] != '/' {
		return "", "", false
	}
	rest = rest[1:]
	i := strings.IndexByte(rest, '/')
	if i < 0 || !serverID(rest[:i]) {
		return "", "", false
	}
	rest = rest[i+1:]
	i = strings.IndexByte(rest, '/')
	if i < 8 || i > 64 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		switch b := rest[j]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b == '-':
		default:
			return "", "", false
		}
	}
	switch kind = rest[i+1:]; kind {
	case "xhr", "xhr_send", "xhr_streaming":
		return rest[:i], kind, true
	}
	return "", "", false
}

// serverID reports whether s is a <server> segment: three digits, or "n" and 3 to 31 of
// [a-z0-9].
func serverID(s string) bool {
	if len(s) == 3 && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) {
		return true
	}
	if len(s) < 4 || len(s) > 32 || s[0] != 'n' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if b := s[i]; !isDigit(b) && (b < 'a' || b > 'z') {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// queryUint returns the number that r's query gives key ("p=12"), or 0 when it gives none
// or not a number; without parsing the whole query into a map.
func queryUint(r *http.Request, key string) uint64 {
	q := r.URL.RawQuery
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == key && v != "" && !strings.ContainsAny(v, "%+") {
			return parseUint(v)
		}
		if k == key || strings.ContainsAny(k, "%+") { // escapes: the slow way
			return parseUint(r.URL.Query().Get(key))
		}
	}
	return 0
}

func parseUint(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Serve serves a request whose path below the SockJS prefix is rest ("/info", "",
// "/123/abcdefgh/xhr_streaming"), whatever the public mount path is.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, rest string) {
	if !h.opts.CheckOrigin(r) {
		closeUnread(w, r) // a slow body is not read first
		http.Error(w, "sockhop: origin not allowed", http.StatusForbidden)
		return
	}
	sid, kind, isSession := matchSession(rest)
	if rest == "/info" && r.Method == http.MethodGet {
		h.info(w)
		return
	}
	if !isSession && rest != "" && rest != "/info" {
		// Off means off: the iframe pages (which sockjs-go serves whatever transports are
		// on, cached for a year), the transports kept off, and session paths whose ids are
		// not PROTOCOL.md's never reach sockjs-go.
		closeUnread(w, r)
		http.NotFound(w, r)
		return
	}
	if isSession && r.Method == http.MethodPost {
		key, ok := h.checkKey(w, r, sid)
		if !ok {
			return
		}
		if kind == "xhr_send" {
			h.xhrSend(w, r, sid, key)
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
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{}) // a long poll or stream is not a slow read
		w.Header()["X-Accel-Buffering"] = hdrNo
		AllowOrigin(w, r)
		h.forwardReceiver(&deadlineWriter{ResponseWriter: w, rc: rc, timeout: h.opts.WriteTimeout, poll: kind == "xhr"}, h.request(r, ctx, rest), c)
		return
	}
	AllowOrigin(w, r)
	if r.Method == http.MethodOptions { // a CORS preflight
		if ah := r.Header.Get("Access-Control-Request-Headers"); ah != "" && ah != "null" {
			w.Header().Add("Access-Control-Allow-Headers", ah)
		}
	}
	h.sj.ServeHTTP(w, h.request(r, nil, rest))
}

// forwardReceiver hands a receiving request of c to sockjs-go. sockjs-go lets go of a
// session's previous receiving request on a goroutine of its own, after that request's
// answer was written: a client that polls again at once can find it still attached and get
// c[2010,"Another connection still open"], which costs it a wait and one more request. When
// this request is c's only receiving one, such an answer can only be that lag: it is not
// sent, and the poll is handed over again once sockjs-go's goroutine had its turn (a few
// times at most; then the client gets the 2010 and polls again, as before).
func (h *Handler) forwardReceiver(w *deadlineWriter, r *http.Request, c *Conn) {
	hd := w.Header()
	// What sockjs-go adds (not sets) to the answer, to be undone before a new attempt.
	cookies, allowHeaders := hd["Set-Cookie"], hd["Access-Control-Allow-Headers"]
	for try := 0; ; try++ {
		w.lagged = false
		w.hideLag = w.poll && try < lagTries && c.alone()
		h.sj.ServeHTTP(w, r)
		if !w.lagged {
			return
		}
		restore(hd, "Set-Cookie", cookies)
		restore(hd, "Access-Control-Allow-Headers", allowHeaders)
		if try < lagYields {
			runtime.Gosched()
		} else {
			time.Sleep(time.Millisecond)
		}
	}
}

// lagTries bounds the attempts of a poll that found sockjs-go still attached to the
// session's previous receiving request; the first lagYields only yield the processor, the
// others wait a millisecond each (the goroutine is runnable: only a busy processor delays
// it), so a poll waits some 30ms at most before the client gets the 2010.
const (
	lagTries  = 32
	lagYields = 3
)

// restore sets header key of hd back to v (absent when nil).
func restore(hd http.Header, key string, v []string) {
	if v == nil {
		delete(hd, key)
	} else {
		hd[key] = v
	}
}

// Constant header values, shared: a map assignment of one of these costs no allocation,
// where Header.Set makes a new slice every time. (Header.Add appends to a copy, as their
// capacity is their length.)
var (
	hdrNo          = []string{"no"}
	hdrNoStore     = []string{"no-store, no-cache, must-revalidate, max-age=0"}
	hdrNoTransform = []string{noTransform}
	hdrTextPlain   = []string{"text/plain; charset=UTF-8"}
	hdrTrue        = []string{"true"}
)

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

// request is r as sockjs-go is given it: its path rest, its context ctx (nil: r's).
func (h *Handler) request(r *http.Request, ctx context.Context, rest string) *http.Request {
	var r2 *http.Request
	if ctx != nil {
		r2 = r.WithContext(ctx) // a copy
	} else {
		r2 = new(http.Request)
		*r2 = *r
	}
	u := *r.URL
	u.Path, u.RawPath = rest, ""
	r2.URL = &u
	return r2
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
		c = &Conn{key: *key, ready: make(chan struct{}), started: make(chan struct{}), sendTurn: make(chan struct{}, 1), sendNext: make(chan struct{}, 1)}
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
				c.end()
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
	stop := context.AfterFunc(s.Context(), c.end)
	defer func() {
		stop()
		c.end()
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
