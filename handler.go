package sockhop

import (
	"context"
	"encoding/json"
	"maps"
	"runtime/debug"
	"strings"
)

// HandlerFunc handles one event from a client. data is the event's raw JSON (nil for
// none). When the client asked for an ack, reply (encoded as JSON) or err is sent back: a
// *Error as is, any other error as code "internal". Handlers of one session run one at a
// time, in the order the client sent the events, on a goroutine of that session; ctx is
// the session's context. A binary message's bytes are in [Bytes](ctx), data then nil;
// a []byte reply travels as bytes. A panic is logged with its stack and closes that session alone
// with CloseInternalError (1011, the client reconnects with a new session).
type HandlerFunc func(ctx context.Context, s *Session, data json.RawMessage) (reply any, err error)

// Handle registers h for event name. It panics when name is empty, h is nil, name
// already has a handler, like http.ServeMux, or name begins with "$" (reserved for the
// protocol's own events, such as $sub: PROTOCOL.md §9).
func (srv *Server) Handle(name string, h HandlerFunc) {
	checkHandle(name, h)
	srv.handle(name, handler{f: h})
}

// checkHandle panics as Handle does for a missing name or handler or a reserved name.
func checkHandle(name string, h HandlerFunc) {
	if name == "" || h == nil {
		panic("sockhop: Handle needs a name and a handler")
	}
	if strings.HasPrefix(name, "$") {
		panic("sockhop: event names beginning with $ are reserved for the protocol: " + name)
	}
}

// handler is a registered event handler.
type handler struct {
	f HandlerFunc
	// req, set by OnRequest, is f with its reply encoded as HandleEvent sends it, for a
	// request (an event with an ack id): f would box the reply in an any, an allocation
	// per request.
	req func(ctx context.Context, s *Session, data json.RawMessage) (encodedReply, error)
}

// encodedReply is a handler's reply as it is sent: JSON data, or bytes (bin), or err
// when the reply does not encode.
type encodedReply struct {
	data  json.RawMessage
	bin   []byte
	isBin bool
	err   error
}

// encodeReply encodes a handler's reply: a []byte as bytes, anything else as JSON.
func encodeReply[R any](r R) encodedReply {
	switch any((*R)(nil)).(type) {
	case *json.RawMessage: // checked, not boxed
		data, err := validRaw(any(r).(json.RawMessage))
		return encodedReply{data: data, err: err}
	case *[]byte:
		return encodedReply{bin: any(r).([]byte), isBin: true}
	}
	return encodeAny(any(r))
}

// encodeAny encodes a reply of a HandlerFunc.
func encodeAny(v any) encodedReply {
	if b, ok := v.([]byte); ok {
		return encodedReply{bin: b, isBin: true}
	}
	data, err := marshal(v)
	return encodedReply{data: data, err: err}
}

func (srv *Server) handle(name string, h handler) {
	srv.handlersMu.Lock()
	defer srv.handlersMu.Unlock()
	old := *srv.handlers.Load()
	if _, dup := old[name]; dup {
		panic("sockhop: a handler for " + name + " is already registered")
	}
	m := maps.Clone(old)
	m[name] = h
	srv.handlers.Store(&m)
}

// On registers a typed handler for event name: the event's data is decoded into a T. Data
// that does not decode is answered with an error ack (code "bad_request") when the client
// asked for one, and dropped otherwise; the session goes on. When the client asked for an
// ack, it gets null, or the error h returns.
func On[T any](srv *Server, name string, h func(ctx context.Context, s *Session, v T) error) {
	srv.Handle(name, func(ctx context.Context, s *Session, data json.RawMessage) (any, error) {
		v, err := decodeIn[T](ctx, data)
		if err != nil {
			return nil, err
		}
		return nil, h(ctx, s, v)
	})
}

// OnRequest registers a typed handler whose result answers the client's emitWithAck: the
// data is decoded into a T, and the returned R (or error) is the reply.
func OnRequest[T, R any](srv *Server, name string, h func(ctx context.Context, s *Session, v T) (R, error)) {
	f := func(ctx context.Context, s *Session, data json.RawMessage) (any, error) {
		v, err := decodeIn[T](ctx, data)
		if err != nil {
			return nil, err
		}
		return h(ctx, s, v)
	}
	req := func(ctx context.Context, s *Session, data json.RawMessage) (encodedReply, error) {
		v, err := decodeIn[T](ctx, data)
		if err != nil {
			return encodedReply{}, err
		}
		r, err := h(ctx, s, v)
		if err != nil {
			return encodedReply{}, err
		}
		return encodeReply(r), nil
	}
	checkHandle(name, f)
	srv.handle(name, handler{f: f, req: req})
}

func decode[T any](data json.RawMessage) (T, error) {
	var v T
	if len(data) == 0 {
		return v, nil
	}
	// The common inputs without encoding/json, which would check data again (the envelope's
	// decoding did) and copy it: a json.RawMessage is data itself (a handler's own copy:
	// decoding copied it out of the frame), a string without escapes is its content.
	switch any((*T)(nil)).(type) {
	case *json.RawMessage:
		return any(data).(T), nil
	case *string:
		if s, ok := plainString(data); ok {
			return any(s).(T), nil
		}
	}
	p := new(T) // encoding/json makes it escape: only on this path
	if err := json.Unmarshal(data, p); err != nil {
		return *p, &Error{Code: CodeBadRequest, Message: err.Error()}
	}
	return *p, nil
}

// OnConnect sets the function run for every new session after its hello and before the
// welcome. Returning an error rejects the client: a *Error is shown to it (close code
// CloseRejected), a *CloseError closes with its own code, anything else is logged and
// shown as "internal error"; a panic is logged with its stack and closes the connection
// with CloseInternalError. Emits made here reach the client right after the welcome. It
// replaces any earlier OnConnect.
func (srv *Server) OnConnect(f func(ctx context.Context, s *Session) error) {
	srv.onConnect.Store(&f)
}

// OnDisconnect sets the function run once after a session ended, with why it ended (read
// the code with CloseCode). It runs after the session's last handler has returned, never
// beside one. A panic in f is logged with its stack, and the server goes on. It replaces
// any earlier OnDisconnect.
func (srv *Server) OnDisconnect(f func(s *Session, reason error)) {
	srv.onDisconnect.Store(&f)
}

// hookPanic logs p, the value a user-supplied function (a hook, a handler, an Adapter
// method) panicked with, at Error level with the stack, and returns the close that ends
// only the session (or connection) concerned: 1011, which clients reconnect after. Call
// it from a deferred recover, so that the stack is the panicking one.
func (srv *Server) hookPanic(hook string, p any, attrs ...any) *CloseError {
	srv.log.Error("sockhop: "+hook+" panicked", append(attrs, "panic", p, "stack", string(debug.Stack()))...)
	return &CloseError{Code: CloseInternalError, Reason: "internal error"}
}

// plainString returns the content of data when it is a JSON string of printable ASCII
// without escapes, which encoding/json would decode to exactly that.
func plainString(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return "", false
	}
	for _, c := range data[1 : len(data)-1] {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(data[1 : len(data)-1]), true
}
