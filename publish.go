package sockhop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

// The HTTP publish endpoint, <mount>/publish (PROTOCOL.md §9, "Publishing over HTTP"), and
// broadcasts to users (ToUser), which cross between nodes through the control room
// usersRoom.

// usersRoom is the control room that carries broadcasts to users (usersEnvelope) between
// nodes; every node subscribes to it at start.
const usersRoom = "\x00users"

// usersEnvelope is the Data of a publication to usersRoom: msg for every session of Users
// and every member of Rooms (once each), except the sessions in Except.
type usersEnvelope struct {
	Users    []string `json:"users"`
	Rooms    []string `json:"rooms,omitempty"`
	Except   []string `json:"except,omitempty"`
	Volatile bool     `json:"volatile,omitempty"`
	Msg      []byte   `json:"msg"` // the encoded message (base64 in JSON: it may be binary)
}

// ErrDurableUsers is returned by the Emit of a broadcast to users (ToUser) with the Durable
// class: histories are kept per room, not per user.
var ErrDurableUsers = errors.New("sockhop: durable broadcasts go to rooms, not users")

// startPublish picks the publish endpoint's Claimer, and subscribes a node of a cluster
// to usersRoom.
func (srv *Server) startPublish() {
	switch c, ok := srv.adapter.(rooms.Claimer); {
	case srv.opts.Claimer != nil:
		srv.claims = srv.opts.Claimer
	case ok:
		srv.claims = c
	case srv.publishOn():
		srv.claims = rooms.NewMemoryClaimer()
	}
	if !srv.clustered() {
		return
	}
	if err := srv.callAdapter("Subscribe", func() error { return srv.adapter.Subscribe(srv.baseCtx, usersRoom) }); err != nil {
		srv.log.Warn("rooms: subscribe to users' broadcasts failed; retried when the broker is back", "err", err)
	}
}

// deliverUsers queues a broadcast to users (a publication to usersRoom, from this node or
// another) for the sessions on this node it addresses. Like deliver, it never blocks and
// never panics. Finding a user's sessions looks at each session of the node (as
// DisconnectUser does): a lock and a map walk, no index to keep.
func (srv *Server) deliverUsers(p rooms.Publication) {
	defer func() {
		if r := recover(); r != nil {
			srv.hookPanic("deliver", r, "rooms", p.Rooms)
		}
	}()
	var env usersEnvelope
	if err := json.Unmarshal(p.Data, &env); err != nil || len(env.Msg) == 0 {
		srv.log.Warn("rooms: a broadcast to users that is not one", "err", err, "len", len(p.Data))
		return
	}
	users := make(map[string]bool, len(env.Users))
	for _, u := range env.Users {
		users[u] = true
	}
	except := make(map[string]bool, len(env.Except))
	for _, id := range env.Except {
		except[id] = true
	}
	// Each session once, whether it is a user's or a room's (or both, or in two rooms).
	targets := make(map[*Session]struct{})
	if len(users) > 0 {
		srv.mu.Lock()
		for _, s := range srv.sessions {
			if uid := s.Identity().UserID; uid != "" && users[uid] {
				targets[s] = struct{}{}
			}
		}
		srv.mu.Unlock()
	}
	if len(env.Rooms) > 0 {
		srv.rooms.Each(env.Rooms, func(s *Session) { targets[s] = struct{}{} })
	}
	n := 0
	for s := range targets {
		if !except[s.ID()] {
			n++
			srv.sendClass(s, env.Msg, env.Volatile)
		}
	}
	if srv.obs != nil {
		srv.obs.Broadcast(n)
	}
}

// usersPublication is the publication to usersRoom of msg for the sessions of users and
// the members of rms, except the sessions in except.
func usersPublication(users, rms, except []string, msg []byte, volatile bool) (rooms.Publication, error) {
	for _, u := range users {
		if u == "" {
			return rooms.Publication{}, errors.New("sockhop: empty user id")
		}
	}
	for _, r := range rms {
		if err := validRoom(r); err != nil {
			return rooms.Publication{}, err
		}
	}
	data, err := json.Marshal(usersEnvelope{Users: users, Rooms: rms, Except: except, Volatile: volatile, Msg: msg})
	if err != nil {
		return rooms.Publication{}, err
	}
	return rooms.Publication{Rooms: []string{usersRoom}, Data: data}, nil
}

// Limits of the publish endpoint.
const (
	maxPublishBody     = 1 << 20
	maxIdempotencyKey  = 200
	idempotencyKeyTTL  = 24 * time.Hour
	publishClaimPrefix = "sockhop:publish:"
)

// publishOn reports whether the publish endpoint is on.
func (srv *Server) publishOn() bool {
	return srv.opts.PublishKey != "" || srv.opts.PublishAuth != nil
}

// publishRequest is the body of a POST to <mount>/publish.
type publishRequest struct {
	Rooms  []string        `json:"rooms"`
	Users  []string        `json:"users"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	Class  string          `json:"class"`
	Except []string        `json:"except"`
}

// publishReply is the body of a 200 answer.
type publishReply struct {
	OK        bool            `json:"ok"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Pos       *rooms.Position `json:"pos,omitempty"`
}

// servePublish serves <mount>/publish.
func (srv *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		publishError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	if !srv.origin.allow(r) {
		// A web page of another site (a cross-site form carrying the cookies a
		// PublishAuth may check); processes that publish send no Origin.
		publishError(w, http.StatusForbidden, "forbidden_origin", "origin not allowed")
		return
	}
	if err := srv.authorizePublish(r); err != nil {
		e, visible := clientError(err)
		if !visible {
			srv.log.Warn("publish: refused", "err", err, "remote", r.RemoteAddr)
			e = &Error{Code: "unauthorized", Message: "unauthorized"}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="sockhop publish"`)
		publishError(w, http.StatusUnauthorized, e.Code, e.Message)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		publishError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("Idempotency-Key is longer than %d bytes", maxIdempotencyKey))
		return
	}
	var req publishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPublishBody))
	if err := dec.Decode(&req); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			publishError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", maxPublishBody))
			return
		}
		publishError(w, http.StatusBadRequest, "bad_request", "the body is not a JSON object: "+err.Error())
		return
	}
	if dec.More() {
		publishError(w, http.StatusBadRequest, "bad_request", "the body has more than one JSON value")
		return
	}
	class, err := req.check()
	if err != nil {
		publishError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ctx := r.Context()
	if key != "" {
		first, err := srv.claimer().Claim(ctx, publishClaimPrefix+key, idempotencyKeyTTL)
		if err != nil {
			srv.log.Warn("publish: claiming the Idempotency-Key failed", "err", err)
			publishError(w, http.StatusServiceUnavailable, "unavailable", "the Idempotency-Key could not be checked; retry")
			return
		}
		if !first {
			publishJSON(w, http.StatusOK, publishReply{OK: true, Duplicate: true})
			return
		}
	}
	pos, err := srv.publish(ctx, &req, class)
	if err != nil {
		status, code := http.StatusServiceUnavailable, "unavailable"
		if errors.Is(err, ErrServerClosed) {
			w.Header().Set("Retry-After", "1")
		}
		srv.log.Warn("publish: delivery failed", "event", req.Event, "err", err)
		msg := err.Error()
		if key != "" {
			msg += " (the Idempotency-Key is spent: retry with a new one)"
		}
		publishError(w, status, code, msg)
		return
	}
	publishJSON(w, http.StatusOK, publishReply{OK: true, Pos: pos})
}

// check validates a publish request and returns its class.
func (req *publishRequest) check() (Class, error) {
	var class Class
	switch req.Class {
	case "", "default":
		class = Default
	case "volatile":
		class = Volatile
	case "durable":
		class = Durable
	default:
		return 0, fmt.Errorf("class %q is not default, volatile or durable", req.Class)
	}
	switch {
	case req.Event == "":
		return 0, errors.New("no event")
	case strings.HasPrefix(req.Event, "$"):
		return 0, fmt.Errorf("event %q: names beginning with $ are reserved", req.Event)
	case len(req.Rooms) == 0 && len(req.Users) == 0:
		return 0, errors.New("no target: give rooms, users or both")
	case class == Durable && len(req.Users) > 0:
		return 0, ErrDurableUsers
	case class == Durable && len(req.Rooms) != 1:
		return 0, errors.New("a durable publish goes to exactly one room")
	}
	for _, room := range req.Rooms {
		if err := validRoom(room); err != nil {
			return 0, err
		}
	}
	if slices.Contains(req.Users, "") {
		return 0, errors.New("empty user id")
	}
	if req.Data == nil {
		req.Data = json.RawMessage("null")
	}
	return class, nil
}

// authorizePublish checks a publish request against PublishKey and PublishAuth.
func (srv *Server) authorizePublish(r *http.Request) (err error) {
	if k := srv.opts.PublishKey; k != "" {
		h := r.Header.Get("Authorization")
		ok := len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") // the scheme is case-insensitive
		got := ""
		if ok {
			got = h[7:]
		}
		// Hashes compare in constant time whatever the lengths.
		want, have := sha256.Sum256([]byte(k)), sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
			return &Error{Code: "unauthorized", Message: "missing or wrong publish key"}
		}
	}
	if f := srv.opts.PublishAuth; f != nil {
		defer func() {
			if p := recover(); p != nil {
				srv.hookPanic("PublishAuth", p)
				err = &Error{Code: "unauthorized", Message: "unauthorized"}
			}
		}()
		return f(r)
	}
	return nil
}

// claimer returns the Claimer of the publish endpoint's Idempotency-Keys.
func (srv *Server) claimer() rooms.Claimer {
	return srv.claims
}

func publishError(w http.ResponseWriter, status int, code, msg string) {
	publishJSON(w, status, struct {
		Error *Error `json:"error"`
	}{&Error{Code: code, Message: msg}})
}

func publishJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// publish emits a publish request's event; it returns the position of a durable one.
func (srv *Server) publish(ctx context.Context, req *publishRequest, class Class) (*rooms.Position, error) {
	var b *Broadcast
	if len(req.Users) > 0 {
		b = srv.ToUser(req.Users...).To(req.Rooms...)
	} else {
		b = srv.To(req.Rooms...)
	}
	pos, err := b.Except(req.Except...).Class(class).emit(ctx, req.Event, req.Data)
	if class == Durable {
		return &pos, err
	}
	return nil, err
}

// ToUser addresses every session of the users with the given ids (Identity.UserID), on
// this node and, through the Adapter, on the others: the same message once per session,
// however many tabs or nodes a user has. Anonymous sessions (UserID "") are never
// addressed. The Broadcast may also name rooms (To): their members get the message too,
// once. A broadcast to users is Default, or Volatile when Class says so (the rooms'
// Channel.Class does not apply); Durable is refused with ErrDurableUsers, as histories
// are kept per room.
func (srv *Server) ToUser(ids ...string) *Broadcast {
	return (&Broadcast{pub: srv}).toUsers(ids)
}

// toUsers returns b addressed to the sessions of users too.
func (b *Broadcast) toUsers(ids []string) *Broadcast {
	c := *b
	c.users = append(slices.Clip(b.users), ids...)
	if c.users == nil {
		c.users = []string{} // still a broadcast to users: it addresses nobody
	}
	return &c
}

// emitUsers is Emit for a broadcast to users (b.users is not nil): encoded once, one
// publication to usersRoom for every node, this one included.
func (b *Broadcast) emitUsers(ctx context.Context, name string, v any) error {
	class := b.class
	if !b.classSet {
		class = Default // the Channels of rooms do not choose for users
	}
	if class == Durable {
		return fmt.Errorf("sockhop: emit %s: %w", name, ErrDurableUsers)
	}
	if len(b.users) == 0 && len(b.rooms) == 0 {
		return nil
	}
	msg, err := encodeEvent(name, v, 0)
	if err != nil {
		return fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	p, err := usersPublication(b.users, b.rooms, b.except, msg, class == Volatile)
	if err != nil {
		return fmt.Errorf("sockhop: emit %s: %w", name, err)
	}
	b.pub.deliverLocal(p)
	if err := b.pub.adapterPublish(ctx, p); err != nil {
		return fmt.Errorf("sockhop: emit %s to other nodes: %w", name, err)
	}
	return nil
}

// sendClass queues msg for s: as a volatile message (dropped when s is slow or has no
// transport) or as any other (a full queue closes that session only).
func (srv *Server) sendClass(s *Session, msg []byte, volatile bool) {
	if volatile {
		s.core.SendVolatile(msg)
		return
	}
	_ = s.core.Send(msg, true)
}
