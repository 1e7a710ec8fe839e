package sockhop

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The admin page (Options.AdminAuthorize): <mount>/admin serves a page that talks to the
// server over sockhop itself, with the event adminEvent. Serving the page to an authorized
// request mints a token that the page sends with every event; a session without a live
// token gets nothing, whatever its transport's request carried.

const (
	adminEvent     = "sockhop:admin"
	adminTokenTTL  = 12 * time.Hour
	maxAdminTokens = 1000
	adminCloses    = 30 // recent closes kept
	adminMinutes   = 30 // minutes of fallbacks kept
	adminRooms     = 20 // rooms shown, the largest on this node
)

//go:embed admin
var adminAssets embed.FS

var adminAssetTypes = map[string]string{
	"admin.js":  "text/javascript; charset=utf-8",
	"admin.css": "text/css; charset=utf-8",
}

// admin is the admin page's state; nil when the page is off.
type admin struct {
	in, out atomic.Uint64 // messages received and sent, every transport

	mu        sync.Mutex
	tokens    map[string]time.Time // page tokens and their expiry; guarded by mu
	closes    []adminClose         // the latest, oldest first; guarded by mu
	fallbacks [adminMinutes]int    // per minute, by unix minute % adminMinutes; guarded by mu
	minutes   [adminMinutes]int64  // the unix minute each slot of fallbacks counts; guarded by mu
}

// adminClose is one ended session, as the page lists it.
type adminClose struct {
	At        int64  `json:"at"` // unix ms
	Transport string `json:"transport"`
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
	User      string `json:"user"`
}

func newAdmin() *admin { return &admin{tokens: make(map[string]time.Time)} }

// mint returns a new page token.
func (a *admin) mint() string {
	t := randomID(24)
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, exp := range a.tokens {
		if now.After(exp) || len(a.tokens) >= maxAdminTokens {
			delete(a.tokens, k)
		}
	}
	a.tokens[t] = now.Add(adminTokenTTL)
	return t
}

func (a *admin) valid(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.tokens[token]
	return ok && time.Now().Before(exp)
}

func (a *admin) closed(c adminClose) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.closes) == adminCloses {
		a.closes = append(a.closes[:0], a.closes[1:]...)
	}
	a.closes = append(a.closes, c)
}

func (a *admin) fallback(now time.Time) {
	m := now.Unix() / 60
	i := m % adminMinutes
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.minutes[i] != m {
		a.minutes[i], a.fallbacks[i] = m, 0
	}
	a.fallbacks[i]++
}

// fallbackSeries returns the fallbacks per minute of the last adminMinutes, oldest first.
func (a *admin) fallbackSeries(now time.Time) []int {
	m := now.Unix() / 60
	out := make([]int, adminMinutes)
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range adminMinutes {
		mm := m - int64(adminMinutes-1-k)
		if i := mm % adminMinutes; a.minutes[i] == mm {
			out[k] = a.fallbacks[i]
		}
	}
	return out
}

// adminObserver feeds the admin page; it runs beside the app's Observer.
type adminObserver struct {
	NopObserver
	a *admin
}

func (o adminObserver) Traffic(string) TrafficObserver { return (*adminTraffic)(o.a) }

func (o adminObserver) SessionResumed(from, to string, _ time.Duration) {
	if from != "" && TransportRank(to) < TransportRank(from) {
		o.a.fallback(time.Now())
	}
}

type adminTraffic admin

func (t *adminTraffic) Received(n, _ int) { t.in.Add(uint64(n)) }
func (t *adminTraffic) Sent(n, _ int)     { t.out.Add(uint64(n)) }
func (t *adminTraffic) RateLimited(int)   {}

// teeObserver tells two Observers.
type teeObserver struct{ a, b Observer }

func (o teeObserver) Traffic(tr string) TrafficObserver {
	x, y := o.a.Traffic(tr), o.b.Traffic(tr)
	switch {
	case x == nil:
		return y
	case y == nil:
		return x
	}
	return teeTraffic{x, y}
}
func (o teeObserver) SessionOpened(t string, d time.Duration) {
	o.a.SessionOpened(t, d)
	o.b.SessionOpened(t, d)
}
func (o teeObserver) SessionResumed(f, t string, d time.Duration) {
	o.a.SessionResumed(f, t, d)
	o.b.SessionResumed(f, t, d)
}
func (o teeObserver) ResumeFailed(t string) { o.a.ResumeFailed(t); o.b.ResumeFailed(t) }
func (o teeObserver) SessionClosed(t string, c int) {
	o.a.SessionClosed(t, c)
	o.b.SessionClosed(t, c)
}
func (o teeObserver) ConnectionRefused(t string, c int, l string) {
	o.a.ConnectionRefused(t, c, l)
	o.b.ConnectionRefused(t, c, l)
}
func (o teeObserver) SlowConsumer(t string, n int) { o.a.SlowConsumer(t, n); o.b.SlowConsumer(t, n) }
func (o teeObserver) Broadcast(n int)              { o.a.Broadcast(n); o.b.Broadcast(n) }
func (o teeObserver) AdapterPublish(b string, d time.Duration, err error) {
	o.a.AdapterPublish(b, d, err)
	o.b.AdapterPublish(b, d, err)
}

type teeTraffic struct{ a, b TrafficObserver }

func (t teeTraffic) Received(n, b int) { t.a.Received(n, b); t.b.Received(n, b) }
func (t teeTraffic) Sent(n, b int)     { t.a.Sent(n, b); t.b.Sent(n, b) }
func (t teeTraffic) RateLimited(n int) { t.a.RateLimited(n); t.b.RateLimited(n) }

// setupAdmin turns the admin page on when Options.AdminAuthorize is set. New calls it.
func (srv *Server) setupAdmin() {
	if srv.opts.AdminAuthorize == nil {
		return
	}
	srv.admin = newAdmin()
	var obs Observer = adminObserver{a: srv.admin}
	if srv.obs != nil {
		obs = teeObserver{srv.obs, obs}
	}
	srv.obs = obs
	srv.Handle(adminEvent, srv.adminRequest)
}

// serveAdmin serves the admin page at <mount>/admin: its HTML to authorized requests
// only, its script and style to anyone (they hold nothing).
func (srv *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	name, ctype, ok := pageAsset(w, r, adminAssetTypes)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", diagCSP)
	if name == "index.html" && !srv.adminAllowed(r) {
		h.Set("WWW-Authenticate", `Basic realm="sockhop admin", charset="UTF-8"`)
		http.Error(w, "sockhop: not authorized", http.StatusUnauthorized)
		return
	}
	b, err := adminAssets.ReadFile(path.Join("admin", name))
	if err != nil {
		http.Error(w, "sockhop: admin asset missing", http.StatusInternalServerError)
		return
	}
	if name == "index.html" {
		b = bytes.ReplaceAll(b, []byte("{{clientVersion}}"), []byte(srv.ClientJSVersion()))
		b = bytes.ReplaceAll(b, []byte("{{token}}"), []byte(srv.admin.mint()))
	}
	h.Set("Content-Type", ctype)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// adminAllowed runs AdminAuthorize, a panic counting as a refusal.
func (srv *Server) adminAllowed(r *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			srv.hookPanic("AdminAuthorize", p)
			ok = false
		}
	}()
	return srv.opts.AdminAuthorize(r)
}

// adminReq is what the page sends: its token, an operation and its argument.
type adminReq struct {
	Token string `json:"token"`
	Op    string `json:"op"` // stats, find, disconnect
	User  string `json:"user"`
}

func (srv *Server) adminRequest(ctx context.Context, s *Session, data json.RawMessage) (any, error) {
	var q adminReq
	if json.Unmarshal(data, &q) != nil || !srv.admin.valid(q.Token) {
		return nil, &Error{Code: "unauthorized", Message: "admin: not authorized"}
	}
	switch q.Op {
	case "stats":
		return srv.adminStats(ctx), nil
	case "find":
		return srv.adminFind(q.User), nil
	case "disconnect":
		if q.User == "" {
			return nil, &Error{Code: CodeBadRequest, Message: "admin: disconnect needs a user"}
		}
		n, err := srv.DisconnectUser(ctx, q.User)
		srv.log.Info("admin: user disconnected", "user", q.User, "sessions", n, "by", s.ID(), "remote", s.RemoteAddr())
		if err != nil {
			return map[string]any{"closed": n, "error": err.Error()}, nil
		}
		return map[string]any{"closed": n}, nil
	}
	return nil, &Error{Code: CodeBadRequest, Message: "admin: unknown op"}
}

type adminNode struct {
	ID       string `json:"id"`
	Sessions int    `json:"sessions"`
	Self     bool   `json:"self"`
}

type adminRoom struct {
	Room  string `json:"room"`
	Here  int    `json:"here"`
	Total int    `json:"total"`
}

type adminStats struct {
	Time       int64          `json:"time"`
	Node       string         `json:"node"`
	Transports map[string]int `json:"transports"`
	Nodes      []adminNode    `json:"nodes"`
	Rooms      []adminRoom    `json:"rooms"`
	RoomCount  int            `json:"room_count"`
	In         uint64         `json:"in"`
	Out        uint64         `json:"out"`
	Closes     []adminClose   `json:"closes"`
	Fallbacks  []int          `json:"fallbacks"`
}

func (srv *Server) adminStats(ctx context.Context) adminStats {
	now := time.Now()
	st := adminStats{Time: now.UnixMilli(), Node: srv.NodeID(), Transports: map[string]int{"websocket": 0, "xhr-streaming": 0, "xhr-polling": 0}}
	srv.mu.Lock()
	live := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		live = append(live, s)
	}
	srv.mu.Unlock()
	for _, s := range live {
		st.Transports[s.Transport()]++
	}
	if srv.clustered() {
		for _, n := range srv.Nodes() {
			st.Nodes = append(st.Nodes, adminNode{n.ID, n.Sessions, n.Self})
		}
	} else {
		st.Nodes = []adminNode{{ID: st.Node, Sessions: len(live), Self: true}}
	}
	rs := srv.Rooms()
	st.RoomCount = len(rs)
	for _, r := range rs {
		st.Rooms = append(st.Rooms, adminRoom{Room: r, Here: srv.LocalCount(r)})
	}
	slices.SortFunc(st.Rooms, func(a, b adminRoom) int { return b.Here - a.Here })
	st.Rooms = st.Rooms[:min(len(st.Rooms), adminRooms)]
	for i := range st.Rooms {
		st.Rooms[i].Total, _ = srv.Count(ctx, st.Rooms[i].Room)
	}
	st.In, st.Out = srv.admin.in.Load(), srv.admin.out.Load()
	srv.admin.mu.Lock()
	st.Closes = slices.Clone(srv.admin.closes)
	srv.admin.mu.Unlock()
	slices.Reverse(st.Closes) // newest first
	st.Fallbacks = srv.admin.fallbackSeries(now)
	return st
}

type adminSession struct {
	ID        string   `json:"id"`
	Transport string   `json:"transport"`
	Remote    string   `json:"remote"`
	Rooms     []string `json:"rooms"`
}

// adminFind lists this node's sessions of user.
func (srv *Server) adminFind(user string) []adminSession {
	srv.mu.Lock()
	var found []*Session
	for _, s := range srv.sessions {
		if s.Identity().UserID == user && user != "" {
			found = append(found, s)
		}
	}
	srv.mu.Unlock()
	out := []adminSession{}
	for _, s := range found {
		out = append(out, adminSession{ID: s.ID(), Transport: s.Transport(), Remote: s.RemoteAddr(), Rooms: s.Rooms()})
	}
	slices.SortFunc(out, func(a, b adminSession) int { return strings.Compare(a.ID, b.ID) })
	return out
}
