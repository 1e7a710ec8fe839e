package sockhop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/cluster"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
	"github.com/sockhop/sockhop/transport/sockjs"
	"github.com/sockhop/sockhop/transport/ws"
)

// Server is a sockhop server. It is an [http.Handler]: mount it under any path M of any
// router, and it serves M/ws (WebSocket), M/sockjs/... (the HTTP fallbacks) and
// M/sockhop.js (the browser client). Create it with [New].
type Server struct {
	opts   Options
	scfg   session.Config // every session's, with defaults; sessionConfig adds the hooks
	log    *slog.Logger
	obs    Observer // nil: none
	admin  *admin   // nil: no admin page
	broker string   // the adapter's name for obs
	origin *originPolicy
	hosts  *hostPolicy // nil: any Host
	ws     *ws.Upgrader
	sj     *sockjs.Handler
	js     *clientJS

	rooms       *rooms.Index[*Session]
	node        *cluster.Node // the cluster's sessions and rooms, as this node knows them
	nodeHeader  []string      // {node.ID()}: the X-Sockhop-Node header's value, shared by every answer
	adapter     rooms.Adapter
	adapterOnce sync.Once
	adapterErr  error
	hist        rooms.History  // durable histories (Options.History resolved)
	order       *orderGate     // durable broadcasts to members in offset order (durable_order.go)
	claims      rooms.Claimer  // the publish endpoint's (publish.go); nil when it is off
	durableMu   [64]sync.Mutex // durable broadcasts of a room, append to publish (durableLock)

	channels   atomic.Pointer[[]channelRule] // longest prefix first; copy on write
	channelsMu sync.Mutex                    // serialises Channel calls

	handlers     atomic.Pointer[map[string]handler] // copy on write
	handlersMu   sync.Mutex                         // serialises registrations
	onConnect    atomic.Pointer[func(context.Context, *Session) error]
	onDisconnect atomic.Pointer[func(*Session, error)]

	baseCtx    context.Context // the adapter's and the limits' context; cancelled to force-close
	baseCancel context.CancelCauseFunc

	trustedProxies []netip.Prefix
	pacer          *pacer // nil when ConnectRate is negative

	mu          sync.Mutex
	perIP       counts // sessions per client address, detached ones included; guarded by mu
	shakes      counts // handshakes under way per client address; guarded by mu
	sends       counts // xhr_send bodies in flight per client address; guarded by mu
	stopping    bool   // Shutdown has begun; guarded by mu
	sessions    map[string]*Session
	handshaking map[transport.Conn]struct{}
	wg          sync.WaitGroup // every accepted connection
}

// New returns a Server configured by opts.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	origin, err := newOriginPolicy(opts)
	if err != nil {
		return nil, err
	}
	if opts.IPv6PrefixLen < 1 || opts.IPv6PrefixLen > 128 {
		return nil, fmt.Errorf("sockhop: IPv6PrefixLen %d is not in 1–128", opts.IPv6PrefixLen)
	}
	hosts, err := newHostPolicy(opts.AllowedHosts)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		hosts:       hosts,
		opts:        opts,
		scfg:        opts.sessionConfig(),
		log:         opts.Logger,
		obs:         opts.Observer,
		origin:      origin,
		sessions:    make(map[string]*Session),
		perIP:       make(counts),
		shakes:      make(counts),
		sends:       make(counts),
		handshaking: make(map[transport.Conn]struct{}),
	}
	if srv.trustedProxies, err = parsePrefixes(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("sockhop: TrustedProxies: %w", err)
	}
	if opts.ConnectRate > 0 {
		srv.pacer = newPacer(opts.ConnectRate, opts.ConnectBurst, time.Second)
	}
	if opts.InsecureAllowAnyOrigin {
		srv.log.Warn("sockhop: InsecureAllowAnyOrigin is set: any web site can open sessions with your visitors' cookies")
	}
	srv.baseCtx, srv.baseCancel = context.WithCancelCause(context.Background())
	srv.handlers.Store(&map[string]handler{})
	srv.ws = ws.NewUpgrader(ws.Options{
		MaxMessageSize: opts.MaxMessageSize,
		WriteTimeout:   opts.WriteTimeout,
		CheckOrigin:    origin.allow,
	})
	srv.sj = sockjs.New(sockjs.Options{
		MaxMessageSize:  opts.MaxMessageSize,
		WriteTimeout:    opts.WriteTimeout,
		CheckOrigin:     origin.allow,
		DisconnectDelay: opts.SockJSDisconnectDelay,
		JSessionID:      opts.SockJSCookie,
		Admit:           srv.admitSockJS,
		HoldSend:        srv.holdSend,
	}, func(c *sockjs.Conn, r *http.Request) { srv.accept(c, r, false) })
	if !opts.DisableClientJS {
		srv.js = newClientJS()
	}
	srv.rooms = rooms.NewIndex[*Session]()
	srv.adapter = opts.Adapter
	if srv.adapter == nil {
		srv.adapter = rooms.NewMemory()
	}
	srv.broker = brokerName(srv.adapter)
	srv.hist = resolveHistory(opts.History, srv.adapter)
	srv.order = newOrderGate(srv.history, srv.deliverNow, srv.log)
	srv.channels.Store(&[]channelRule{})
	if err := srv.callAdapter("Start", func() error { return srv.adapter.Start(srv.baseCtx, srv.deliver) }); err != nil {
		return nil, fmt.Errorf("sockhop: starting the rooms adapter: %w", err)
	}
	if err := srv.startCluster(); err != nil {
		_ = srv.callAdapter("Close", func() error { return srv.adapter.Close(context.Background()) })
		return nil, err
	}
	srv.startPublish()
	srv.registerDiag()
	srv.setupAdmin()
	return srv, nil
}

// ServeHTTP routes a request by the end of its path, so the server works under any mount
// path, whether or not the router strips it.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !srv.hosts.allow(r) {
		http.Error(w, "sockhop: host not allowed", http.StatusForbidden)
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	var last [4]string
	segs := lastSegments(&last, path)
	if r = srv.route(w, r, segs); r == nil {
		return // forwarded to the session's node
	}
	n := len(segs)
	switch {
	case segs[n-1] == "ws":
		srv.serveWS(w, r)
	case segs[n-1] == "sockhop.js" && srv.js != nil:
		srv.js.ServeHTTP(w, r)
	case segs[n-1] == "sockhop.min.js.map" && srv.js != nil:
		srv.js.serveMap(w, r)
	case segs[n-1] == "diag" && !srv.opts.DisableDiag:
		srv.serveDiag(w, r)
	case segs[n-1] == "publish" && srv.publishOn():
		srv.servePublish(w, r)
	case segs[n-1] == "admin" && srv.admin != nil:
		srv.serveAdmin(w, r)
	case segs[n-1] == "sockjs":
		srv.sj.Serve(w, r, "")
	case n >= 2 && segs[n-2] == "sockjs":
		srv.sj.Serve(w, r, "/"+segs[n-1])
	case n >= 4 && segs[n-4] == "sockjs":
		// "/<server>/<session>/<transport>": the end of path, not a joined copy of it.
		srv.sj.Serve(w, r, path[len(path)-len(segs[n-3])-len(segs[n-2])-len(segs[n-1])-3:])
	default:
		http.NotFound(w, r)
	}
}

// lastSegments returns path's last segments, up to len(dst), in order: all that routing
// looks at, without a slice of every segment per request.
func lastSegments(dst *[4]string, path string) []string {
	i := len(dst)
	for i > 0 {
		i--
		j := strings.LastIndexByte(path, '/')
		dst[i] = path[j+1:]
		if j < 0 {
			break
		}
		path = path[:j]
	}
	return dst[i:]
}

func (srv *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if srv.opts.DisableWebSocket {
		http.Error(w, "sockhop: websocket transport disabled", http.StatusNotFound)
		return
	}
	if !srv.origin.allow(r) {
		http.Error(w, "sockhop: origin not allowed", http.StatusForbidden)
		return
	}
	var refused error
	if srv.draining() {
		refused = &CloseError{Code: CloseGoingAway, Reason: "server shutting down", Retry: srv.retryHint()}
	} else if srv.pacer != nil { // the key costs a parse and a string: only when counted
		refused = srv.pace(r, srv.clientKey(r))
	}
	// The 101 may wait for the welcome when no app hook runs between them: a slow hook
	// must not keep the client from hearing the upgrade, or from giving up on it
	// knowingly (PROTOCOL.md §3).
	hold := srv.opts.Authenticate == nil && srv.onConnect.Load() == nil
	c, err := srv.ws.Upgrade(w, r, hold)
	if err != nil {
		srv.log.Info("upgrade failed", "err", err)
		return
	}
	if refused != nil {
		// Refused after the upgrade, so that a browser sees the close code and its retry
		// hint instead of a failed WebSocket, which would send it down the transport ladder.
		srv.refuse(c, refused)
		return
	}
	// The handshake runs on this goroutine, whose stack has grown already; the session
	// goes on without it (accept detaches), so net/http lets the connection's buffers go
	// when the welcome is out. The request's context ends with ServeHTTP, the session's
	// does not.
	r = r.WithContext(context.WithoutCancel(r.Context()))
	srv.accept(c, r, true)
}

// clientKey is what the per-address limits count r's client as: its address (see
// clientIP), IPv6 by its prefix (see addrKey).
func (srv *Server) clientKey(r *http.Request) string {
	return addrKey(srv.clientIP(r), srv.opts.IPv6PrefixLen)
}

func (srv *Server) draining() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.stopping
}

// accept runs one connection from handshake to end. With detach it returns once the
// session runs (it goes on without this goroutine: see session.Start); otherwise it
// returns when the session is done with conn (sockjs-go ends a session whose handler
// returned).
func (srv *Server) accept(conn transport.Conn, r *http.Request, detach bool) {
	start := time.Now()
	srv.mu.Lock()
	if srv.stopping {
		srv.mu.Unlock()
		srv.refuse(conn, &CloseError{Code: CloseGoingAway, Reason: "server shutting down", Retry: srv.retryHint()})
		return
	}
	srv.wg.Add(1)
	srv.handshaking[conn] = struct{}{}
	srv.mu.Unlock()
	owned := false // the session calls srv.wg.Done when it is done with conn
	defer func() {
		if !owned {
			srv.wg.Done()
		}
	}()

	// A connection counts against its address while it shakes hands, and as a session once
	// it is a new one: a resume is its session's, already counted, so a client at the
	// limit can still resume.
	ip := srv.clientKey(r)
	if !srv.holdSlot(srv.shakes, ip) {
		srv.mu.Lock()
		delete(srv.handshaking, conn)
		srv.mu.Unlock()
		srv.refuse(conn, &CloseError{Code: CloseTryAgainLater, Reason: reasonHandshakesPerAddress, Retry: busyRetry()})
		return
	}
	hello, lines, err := srv.readHello(conn)
	var id Identity
	if err == nil {
		id, err = srv.authenticate(r, hello.Auth)
	}
	srv.freeSlot(srv.shakes, ip)
	if err == nil && hello.Resume != nil && srv.scfg.ResumeBytes >= 0 {
		if srv.resume(conn, hello, id, lines, start, detach) {
			owned = detach
			return
		}
	}
	admitted := false
	defer func() {
		if admitted {
			srv.freeSlot(srv.perIP, ip)
		}
	}()
	if err == nil {
		if admitted = srv.holdSlot(srv.perIP, ip); !admitted {
			err = &CloseError{Code: CloseTryAgainLater, Reason: reasonSessionsPerAddress, Retry: busyRetry()}
		}
	}
	var s *Session
	if err == nil {
		s, err = srv.open(conn, r, id, ip, hello.Ping)
	}
	srv.mu.Lock()
	delete(srv.handshaking, conn)
	// A session that ended while OnConnect ran was ended by a forced Shutdown (see
	// runOnConnect): the client hears that, not the hook's error it caused.
	if srv.stopping && (err == nil || s != nil && s.Context().Err() != nil) {
		err = &CloseError{Code: CloseGoingAway, Reason: "server shutting down", Retry: srv.retryHint()}
	}
	if err == nil {
		srv.sessions[s.ID()] = s
	}
	srv.mu.Unlock()
	if err != nil {
		srv.refuse(conn, err)
		srv.penalize(ip, err)
		if s != nil {
			s.stopExpiry()
			s.core.Abort(events.Cause(err))
			srv.leaveAll(s) // OnConnect may have joined rooms
		}
		return
	}
	admitted = false // the session holds the count now; end releases it
	if srv.obs != nil {
		s.observe(conn.Name())
		srv.obs.SessionOpened(conn.Name(), time.Since(start))
	}
	if !detach {
		srv.end(s, s.core.Run(conn, lines))
		return
	}
	owned = true
	s.core.Start(conn, lines, func(reason error) {
		defer srv.wg.Done()
		srv.end(s, reason)
	})
}

// end runs once when a session has ended for good (after Run): it waits for the
// session's last handler, and then ends it for the server (OnDisconnect).
func (srv *Server) end(s *Session, reason error) {
	s.core.Wait()
	srv.mu.Lock()
	delete(srv.sessions, s.ID())
	srv.mu.Unlock()
	s.stopExpiry()
	srv.leaveAll(s)
	srv.freeSlot(srv.perIP, s.ip)
	srv.penalize(s.ip, reason)
	code := CloseCode(reason)
	srv.log.Info("session closed", "session", s.ID(), "transport", s.Transport(), "code", code,
		"reason", events.Cause(reason).Reason, "remote", s.remote, "user", s.Identity().UserID)
	if srv.obs != nil {
		srv.obs.SessionClosed(s.observedTransport(), code)
	}
	if srv.admin != nil {
		srv.admin.closed(adminClose{At: time.Now().UnixMilli(), Transport: s.Transport(), Code: code,
			Reason: events.Cause(reason).Reason, User: s.Identity().UserID})
	}
	if f := srv.onDisconnect.Load(); f != nil {
		srv.runOnDisconnect(*f, s, reason)
	}
}

func (srv *Server) runOnDisconnect(f func(*Session, error), s *Session, reason error) {
	defer func() {
		if p := recover(); p != nil {
			srv.hookPanic("OnDisconnect", p, "session", s.ID())
		}
	}()
	f(s, reason)
}

// refuse tells the client why its connection ends before the session started.
func (srv *Server) refuse(conn transport.Conn, err error) {
	ce := events.Cause(err)
	if ce.Code != CloseAbnormal && ce.Code != CloseHandshakeTimeout {
		write := conn.WriteFrame
		if fw, ok := conn.(transport.FinalWriter); ok {
			write = fw.WriteFinal
		}
		_ = write([][]byte{events.Encode(ce.Message())})
	}
	_ = conn.Close(ce.Code, ce.Reason)
	srv.log.Info("connection refused", "transport", conn.Name(), "code", ce.Code, "reason", ce.Reason)
	if srv.obs != nil {
		srv.obs.ConnectionRefused(conn.Name(), ce.Code, refusalLimit(ce))
	}
}

// refusalLimit names the limit that refused a connection with ce, for metrics: one of
// the per-address limits, the connect rate, or none ("").
func refusalLimit(ce *CloseError) string {
	if ce.Code != CloseTryAgainLater {
		return ""
	}
	switch ce.Reason {
	case reasonSessionsPerAddress, reasonSendsPerAddress:
		return "per_address"
	case reasonHandshakesPerAddress:
		return "handshakes"
	case reasonConnectRate:
		return "connect_rate"
	}
	return ""
}

// The reasons of the refusals for a per-address limit.
const (
	reasonSessionsPerAddress   = "too many sessions from your address"
	reasonHandshakesPerAddress = "too many connections from your address"
	reasonSendsPerAddress      = "too many messages under way from your address"
	reasonConnectRate          = "connecting too often from your address"
)

// readHello reads the first frame, which must start with a hello, within the handshake
// timeout. It returns the messages that came after the hello in that frame. A WebSocket
// upgrade may have carried the hello already (PROTOCOL.md §3): then nothing is read.
func (srv *Server) readHello(conn transport.Conn) (*events.Message, [][]byte, error) {
	if uh, ok := conn.(upgradeHello); ok {
		if hello, ok := uh.Hello(); ok {
			transport.SetPeerBinary(conn, hello.Bin == 1)
			return &hello, nil, nil
		}
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(srv.opts.HandshakeTimeout, func() {
		timedOut.Store(true)
		_ = conn.Close(CloseHandshakeTimeout, "handshake timeout")
	})
	frame, err := conn.ReadFrame()
	timer.Stop()
	if timedOut.Load() {
		return nil, nil, &CloseError{Code: CloseHandshakeTimeout, Reason: "handshake timeout"}
	}
	if err != nil {
		return nil, nil, err
	}
	lines := make([][]byte, 0, 1) // a hello alone, almost always
	_ = events.Lines(frame, func(l []byte) error { lines = append(lines, l); return nil })
	if len(lines) == 0 {
		return nil, nil, &CloseError{Code: CloseProtocolError, Reason: "empty hello"}
	}
	hello, err := events.Decode(lines[0])
	switch {
	case err != nil:
		return nil, nil, &CloseError{Code: CloseProtocolError, Reason: err.Error()}
	case hello.T != events.TypeHello:
		return nil, nil, &CloseError{Code: CloseProtocolError, Reason: "first message must be hello"}
	case hello.V != events.Version:
		return nil, nil, &CloseError{Code: CloseUnsupportedVersion, Reason: "unsupported protocol version"}
	}
	transport.SetPeerBinary(conn, hello.Bin == 1) // binary.go
	return &hello, lines[1:], nil
}

// upgradeHello is a Conn whose upgrade request may have carried the hello (transport/ws).
type upgradeHello interface {
	Hello() (events.Message, bool)
}

// open creates a new session on conn, queues its welcome and runs OnConnect. ping is the
// heartbeat interval the hello asked for, in ms (0: none).
func (srv *Server) open(conn transport.Conn, r *http.Request, id Identity, ip string, ping int64) (*Session, error) {
	s := newSession(srv, conn, r)
	s.ip = ip
	s.core.SetPingInterval(time.Duration(ping) * time.Millisecond)
	s.setIdentity(id)
	srv.node.Local(cluster.Op{Kind: cluster.OpOpen, SID: s.ID(), User: id.UserID})
	_ = s.core.SendControl(srv.welcome(s, false, 0))
	if f := srv.onConnect.Load(); f != nil {
		if err := srv.runOnConnect(*f, s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (srv *Server) runOnConnect(f func(context.Context, *Session) error, s *Session) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = srv.hookPanic("OnConnect", p, "session", s.ID())
		}
	}()
	// The session is not in srv.sessions yet, where Shutdown's force path finds it: until
	// it is, a force ends it from here (its context is not a child of srv.baseCtx).
	stop := context.AfterFunc(srv.baseCtx, func() { s.core.Abort(events.Cause(context.Cause(srv.baseCtx))) })
	defer stop()
	if err := f(s.Context(), s); err != nil {
		var ce *CloseError
		if errors.As(err, &ce) {
			return ce
		}
		e, visible := clientError(err)
		if !visible {
			srv.log.Error("OnConnect failed", "session", s.ID(), "err", err)
		}
		return &CloseError{Code: CloseRejected, Reason: e.Message, Err: e}
	}
	return nil
}

// sessionConfig is srv.scfg with the hooks of s.
func (srv *Server) sessionConfig(s *Session) session.Config {
	cfg := srv.scfg
	cfg.OnServe = func(conn transport.Conn) {
		s.setTransport(conn)
		srv.log.Info("session open", "session", s.ID(), "transport", conn.Name(), "remote", s.remote)
	}
	if obs := srv.obs; obs != nil {
		cfg.Meter = func(conn transport.Conn) session.Meter {
			if t := obs.Traffic(conn.Name()); t != nil {
				return t
			}
			return nil
		}
		cfg.OnSlowConsumer = func(dropped int) { obs.SlowConsumer(s.observedTransport(), dropped) }
	}
	cfg.OnDrop = func(conn transport.Conn, reason error) {
		srv.log.Info("transport dropped, waiting for a resume", "session", s.ID(), "transport", conn.Name(),
			"code", CloseCode(reason), "err", reason)
	}
	return cfg
}

// retryHint is a random reconnect delay in ms, up to ShutdownRetry, at least a tenth of it.
func (srv *Server) retryHint() int64 {
	max := srv.opts.ShutdownRetry.Milliseconds()
	return max/10 + mrand.Int64N(max-max/10+1)
}

// Shutdown stops the server gracefully: new sessions are refused (503 on HTTP), live
// sessions are closed with CloseGoingAway and a jittered retry hint, and Shutdown waits
// for every session's goroutines. When ctx ends first, the remaining sessions are closed
// at once and Shutdown returns ctx's error. http.Server.Shutdown does not close hijacked
// WebSocket connections, so call srv.Shutdown before it.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.stopping = true
	live := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		live = append(live, s)
	}
	srv.mu.Unlock()
	srv.sj.Drain()
	for _, s := range live {
		s.core.Close(&CloseError{Code: CloseGoingAway, Reason: "server shutting down", Retry: srv.retryHint()})
	}
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return srv.closeAdapter(ctx)
	case <-ctx.Done():
	}
	gone := &CloseError{Code: CloseGoingAway, Reason: "server shutting down"}
	srv.baseCancel(gone)
	srv.mu.Lock()
	var conns []transport.Conn
	for c := range srv.handshaking {
		conns = append(conns, c)
	}
	live = live[:0]
	for _, s := range srv.sessions {
		live = append(live, s)
	}
	srv.mu.Unlock()
	// Abort ends each session (its context with gone, and its transport, which frees a
	// writer stuck on a stalled peer); a handshake's conn is closed here.
	for _, s := range live {
		s.core.Abort(gone)
	}
	for _, c := range conns {
		go c.Close(CloseGoingAway, "server shutting down")
	}
	select {
	case <-done:
	case <-time.After(time.Second): // a handler that ignores its context
	}
	_ = srv.closeAdapter(context.Background())
	return ctx.Err()
}

func (srv *Server) closeAdapter(ctx context.Context) error {
	srv.adapterOnce.Do(func() {
		if srv.clustered() {
			srv.node.Stop(ctx) // says goodbye through the adapter, so before it closes
		}
		srv.adapterErr = srv.callAdapter("Close", func() error { return srv.adapter.Close(ctx) })
		srv.order.close() // no broadcast arrives any more: a held one has nobody to go to
	})
	if errors.Is(srv.adapterErr, rooms.ErrClosed) {
		return nil
	}
	return srv.adapterErr
}

// SessionCount returns the number of open sessions on this server.
func (srv *Server) SessionCount() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// Session returns the open session with id, or nil.
func (srv *Server) Session(id string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

// randomID returns n random bytes, base64url-encoded.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
