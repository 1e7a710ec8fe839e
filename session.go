package sockhop

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
	"github.com/sockhop/sockhop/transport"
)

// Session is one client's session. Its methods may be called from any goroutine.
type Session struct {
	srv    *Server
	core   *session.Session
	remote string
	header http.Header

	mu        sync.Mutex
	values    map[string]any // guarded by mu
	transport string         // its name; guarded by mu
	token     string         // the resume token; guarded by mu
	prevToken string         // the one before, until the client shows it has the new one; guarded by mu
	identity  Identity       // guarded by mu
	expiry    *time.Timer    // closes the session at identity.Expires; guarded by mu
	ip        string         // the client's key for the per-address limits (clientKey)
	observed  string         // the transport Options.Observer was last told of; guarded by mu

	catchUp catchUp // the rooms of $sub catch-ups under way (subscribe.go)
}

// observe records t as the transport the Observer knows s on, and returns the one before.
func (s *Session) observe(t string) (prev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, s.observed = s.observed, t
	return prev
}

// observedTransport returns the transport the Observer knows s on.
func (s *Session) observedTransport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.observed
}

func newSession(srv *Server, conn transport.Conn, r *http.Request) *Session {
	s := &Session{
		srv:       srv,
		transport: conn.Name(),
		remote:    r.RemoteAddr,
		header:    keptHeader(r.Header),
	}
	id := randomID(16)
	cfg := srv.sessionConfig(s)
	if srv.log.Enabled(context.Background(), slog.LevelError) { // not the silent default: no logger per session
		cfg.Logger = srv.log.With("session", id)
	}
	// Not a child of srv.baseCtx: that would put every session in one context's map of
	// children, under one lock taken by every session's start and end (4% of the CPU of
	// opening a connection, and the map's growth). Shutdown's force path aborts each
	// session, and a session registered after Shutdown began is refused (see accept);
	// runOnConnect covers the time before it is registered.
	s.core = session.New(context.Background(), id, cfg, dispatcher{s})
	return s
}

// ID returns the session's id, unique and unguessable.
func (s *Session) ID() string { return s.core.ID() }

// Context returns the session's context, cancelled when the session ends. Handlers get
// it as their ctx.
func (s *Session) Context() context.Context { return s.core.Context() }

// Transport names the transport the session runs on: "websocket", "xhr-streaming" or
// "xhr-polling".
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

func (s *Session) setTransport(c transport.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transport = c.Name()
}

// RemoteAddr is the network address of the client (or of the last proxy), as in
// http.Request.RemoteAddr.
func (s *Session) RemoteAddr() string { return s.remote }

// Header returns the headers of the request that opened the session (cookies, user agent,
// forwarding headers), without those of the WebSocket handshake itself (Upgrade,
// Connection, Sec-WebSocket-Key, -Version and -Extensions), which no app can use once it
// is done. The caller must not modify it.
func (s *Session) Header() http.Header { return s.header }

// handshakeHeaders are the request headers a session does not keep (see Header).
var handshakeHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions"}

// keptHeader is a copy of h without handshakeHeaders: a session keeps it for its life.
// Its values share one array, as http.Header.Clone's do.
func keptHeader(h http.Header) http.Header {
	keys, values := 0, 0
	for k, v := range h {
		if !slices.Contains(handshakeHeaders, k) {
			keys++
			values += len(v)
		}
	}
	kept := make(http.Header, keys)
	all := make([]string, values)
	for k, v := range h {
		if !slices.Contains(handshakeHeaders, k) {
			n := copy(all, v)
			kept[k] = all[:n:n]
			all = all[n:]
		}
	}
	return kept
}

// Emit sends event name with v, encoded as JSON, to the client. It never blocks on the
// network: the message is queued; a full queue closes the session (ErrSlowConsumer).
//
// A []byte travels as bytes (binary.go).
func (s *Session) Emit(ctx context.Context, name string, v any) error {
	msg, err := encodeEvent(name, v, 0)
	if err != nil {
		return fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	return s.core.Send(msg, true)
}

// EmitVolatile sends event name with v to the client unless the session is slow (its
// queue holds more than a little) or has no transport at the moment (it waits for a
// resume): then the message is dropped, without error. Use it for what is stale by the
// time it would arrive late: cursor moves, typing indicators. The error is for v that
// does not encode.
func (s *Session) EmitVolatile(ctx context.Context, name string, v any) error {
	msg, err := encodeEvent(name, v, 0)
	if err != nil {
		return fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	s.core.SendVolatile(msg)
	return nil
}

// EmitWithAck sends event name with v and waits for the client's reply, until ctx ends,
// Options.AckTimeout passes (ErrAckTimeout) or the session ends (ErrSessionClosed). An
// error reply comes back as *Error.
//
// A []byte travels as bytes; a reply in bytes comes back as the JSON string of their
// base64, which decodes into a []byte.
func (s *Session) EmitWithAck(ctx context.Context, name string, v any) (json.RawMessage, error) {
	enc, err := eventEncoder(name, v)
	if err != nil {
		return nil, fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	m, err := s.core.RequestMessage(ctx, name, enc)
	if err != nil {
		return nil, err
	}
	if m.B != nil {
		return json.Marshal(m.B)
	}
	return m.Data, nil
}

// Close ends the session: queued messages are sent, then a close with code and reason.
// Use codes from 4100–4499 to let the client reconnect, 4600–4999 to stop it.
func (s *Session) Close(code int, reason string) {
	s.core.Close(&CloseError{Code: code, Reason: reason})
}

// Err returns why the session ended, or nil while it is open.
func (s *Session) Err() error { return s.core.Err() }

// Set stores a value in the session, for handlers to share per-session state.
func (s *Session) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = make(map[string]any)
	}
	s.values[key] = v
}

// Get returns the value stored under key by Set.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	return v, ok
}

func marshal(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return validRaw(v)
	}
	return json.Marshal(v)
}

// validRaw returns a json.RawMessage reply as it is sent: nil (null) for none, an error
// when it is not valid JSON.
func validRaw(v json.RawMessage) (json.RawMessage, error) {
	if len(v) == 0 {
		return nil, nil // null
	}
	if !events.Valid(v) {
		return nil, fmt.Errorf("invalid json.RawMessage")
	}
	return v, nil
}

// dispatcher runs a session's events through the server's handlers.
type dispatcher struct{ s *Session }

func (d dispatcher) HandleEvent(ctx context.Context, m *events.Message) {
	s := d.s
	if strings.HasPrefix(m.Name, "$") {
		s.handleProtocolEvent(ctx, m)
		return
	}
	h := (*s.srv.handlers.Load())[m.Name]
	if h.f == nil {
		s.srv.log.Debug("unknown event", "session", s.ID(), "event", m.Name)
		if m.ID != 0 {
			_ = s.core.Reply(m.ID, nil, &Error{Code: CodeUnknownEvent, Message: "no handler for " + m.Name})
		}
		return
	}
	var r encodedReply
	var panicked bool
	var err error
	if h.req != nil && m.ID != 0 {
		r, panicked, err = s.runRequest(ctx, h.req, m)
	} else {
		var reply any
		reply, panicked, err = s.runHandler(ctx, h.f, m)
		if !panicked && err == nil && m.ID != 0 {
			r = encodeAny(reply)
		}
	}
	if panicked {
		return
	}
	if err != nil {
		e, visible := clientError(err)
		if !visible {
			s.srv.log.Error("handler failed", "session", s.ID(), "event", m.Name, "err", err)
		}
		if m.ID != 0 {
			_ = s.core.Reply(m.ID, nil, e)
		}
		return
	}
	if m.ID == 0 {
		return
	}
	if r.isBin {
		_ = s.core.ReplyBytes(m.ID, r.bin)
		return
	}
	if r.err != nil {
		s.srv.log.Error("encoding reply", "session", s.ID(), "event", m.Name, "err", r.err)
		_ = s.core.Reply(m.ID, nil, &Error{Code: CodeInternal, Message: "internal error"})
		return
	}
	_ = s.core.Reply(m.ID, r.data, nil)
}

// runRequest is runHandler for an OnRequest handler answering a request.
func (s *Session) runRequest(ctx context.Context, h func(context.Context, *Session, json.RawMessage) (encodedReply, error), m *events.Message) (r encodedReply, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.core.Abort(s.srv.hookPanic("handler", p, "session", s.ID(), "event", m.Name))
			r, panicked, err = encodedReply{}, true, nil
		}
	}()
	r, err = h(withBytes(ctx, m), s, m.Data)
	return r, false, err
}

// runHandler calls h; a panic is logged with its stack and closes the session (1011), as
// the handler may have left the session's state half changed.
func (s *Session) runHandler(ctx context.Context, h HandlerFunc, m *events.Message) (reply any, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.core.Abort(s.srv.hookPanic("handler", p, "session", s.ID(), "event", m.Name))
			reply, panicked, err = nil, true, nil
		}
	}()
	reply, err = h(withBytes(ctx, m), s, m.Data)
	return reply, false, err
}
