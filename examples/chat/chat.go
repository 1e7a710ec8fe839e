package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/rooms"
)

// Limits of the chat, checked on the server (the page checks them too, for speed, but the
// server is what counts).
const (
	maxText     = 500 // characters in one message
	defaultRoom = "lobby"
)

var (
	nickRE = regexp.MustCompile(`^[\p{L}\p{N}_.-]{1,20}$`)
	roomRE = regexp.MustCompile(`^[a-z0-9_-]{1,24}$`)
)

// everyone is the sockhop room every session joins, for the room list.
const everyone = "everyone"

// roomPrefix begins the sockhop room of every chat room (so that a chat room can never be
// called like an internal one), and names the Channel rule of those rooms.
const roomPrefix = "chat:"

// sockhopRoom is the sockhop room of chat room name.
func sockhopRoom(name string) string { return roomPrefix + name }

//go:embed static
var static embed.FS

// The page's types of the events (static/chat.js reads them through JSDoc): a test fails
// when events.d.ts is stale.
//go:generate go run github.com/sockhop/sockhop/cmd/sockhop gen ts -o events.d.ts

// message is one chat line, as the clients receive it in "msg" events and in history.
type message struct {
	ID   string `json:"id"`
	Room string `json:"room"`
	Nick string `json:"nick"`
	Text string `json:"text"`
	TS   int64  `json:"ts"` // unix ms
	// Kind is "announcement" for one posted from another process (./announce), else empty.
	Kind string `json:"kind,omitempty"`
}

// notice tells a room that someone joined, left or changed nickname.
type notice struct {
	Room    string   `json:"room"`
	Kind    string   `json:"kind"` // "join", "leave", "rename"
	Nick    string   `json:"nick"`
	Old     string   `json:"old,omitempty"` // the previous nickname of a rename
	Members []string `json:"members"`       // the room's nicknames after the change
	TS      int64    `json:"ts"`
}

// roomInfo is one entry of the room list.
type roomInfo struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

// joinReq is the data of "join".
type joinReq struct {
	Room string `json:"room"`
	Nick string `json:"nick"`
	// Subscribe: the client subscribes to the room itself (the page: s.subscribe, through
	// the Channel rule, so that it keeps its position and catches up after a reload); else
	// join puts the session in the room (the terminal client).
	Subscribe bool `json:"subscribe,omitempty"`
}

// typing tells a room that someone is typing (volatile: dropped rather than late).
type typing struct {
	Room string `json:"room"`
	Nick string `json:"nick"`
}

// joined answers "join": where the session is now, who is there and what was said.
type joined struct {
	Room    string     `json:"room"`
	Nick    string     `json:"nick"`
	Members []string   `json:"members"`
	History []message  `json:"history"`
	Rooms   []roomInfo `json:"rooms"`
}

// user is the chat state of one session, kept with Session.Set. Handlers of one session
// run one at a time, and OnDisconnect after the last, so it needs no lock.
type user struct {
	nick, room string
}

// chat is the chat application on top of a sockhop server.
type chat struct {
	srv   *sockhop.Server
	store store
	hist  rooms.History // the rooms' durable messages: the server's Options.History
	log   *slog.Logger
}

// appOptions configure newApp.
type appOptions struct {
	Adapter   rooms.Adapter // nil: one process
	Advertise string        // with Adapter: where the other nodes reach this one
	RedisURL  string        // with Adapter: share nicknames too
	Logger    *slog.Logger
	Hosts     []string               // sockhop.Options.AllowedHosts
	Ops       func(*sockhop.Options) // -metrics, -admin; nil: none
	// PublishKey turns on sockhop's HTTP publish endpoint (/rt/publish) with this key
	// (-publish-key): how ./announce -url posts. Empty: off.
	PublishKey string
}

// newApp returns the chat's HTTP handler (the page at /, sockhop at /rt) and its sockhop
// server, which the caller shuts down, and a cleanup for the store.
func newApp(opts appOptions) (http.Handler, *sockhop.Server, func(), error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var st store = newMemStore()
	if opts.RedisURL != "" {
		rs, err := newRedisStore(opts.RedisURL)
		if err != nil {
			return nil, nil, nil, err
		}
		st = rs
	}
	// The history of the rooms (their "msg" events, durable): the broker's when it keeps
	// histories (Redis Streams, NATS JetStream), so that every process reads the same, else
	// this process's memory.
	hist, ok := opts.Adapter.(rooms.History)
	if !ok {
		hist = rooms.NewMemoryHistory()
	}
	so := sockhop.Options{
		Adapter: opts.Adapter, Advertise: opts.Advertise, Logger: opts.Logger, AllowedHosts: opts.Hosts,
		History: hist, PublishKey: opts.PublishKey,
	}
	if opts.Ops != nil {
		opts.Ops(&so)
	}
	srv, err := sockhop.New(so)
	if err != nil {
		_ = st.close()
		return nil, nil, nil, err
	}
	c := &chat{srv: srv, store: st, hist: hist, log: opts.Logger}
	// The chat rooms: a client may subscribe to a room with a valid name (reading is open;
	// speaking needs a nickname there, "join"); their messages are durable, kept
	// historySize deep, so that a page that comes back without its session catches up
	// from its last position, on any process.
	srv.Channel(roomPrefix, sockhop.Channel{
		Class:       sockhop.Durable,
		HistorySize: historySize,
		Subscribe: func(_ context.Context, _ *sockhop.Session, room string) error {
			return checkRoom(strings.TrimPrefix(room, roomPrefix))
		},
	})
	srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
		s.Set("user", &user{})
		return s.Join(ctx, everyone)
	})
	srv.OnDisconnect(func(s *sockhop.Session, _ error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.leave(ctx, s, userOf(s))
	})
	sockhop.OnRequest(srv, "join", c.join)
	sockhop.OnRequest(srv, "nick", c.nick)
	sockhop.OnRequest(srv, "say", c.say)
	sockhop.OnRequest(srv, "rooms", func(ctx context.Context, _ *sockhop.Session, _ struct{}) ([]roomInfo, error) {
		return c.roomList(ctx)
	})
	sockhop.On(srv, "typing", c.typing)
	// What the server emits, for the generated TypeScript (events.d.ts).
	sockhop.Emits[message](srv, "msg")
	sockhop.Emits[notice](srv, "notice")
	sockhop.Emits[[]roomInfo](srv, "rooms")
	sockhop.Emits[typing](srv, "typing")

	sub, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.Handle("/", http.FileServerFS(sub))
	return mux, srv, func() { _ = st.close() }, nil
}

func userOf(s *sockhop.Session) *user {
	if v, ok := s.Get("user"); ok {
		return v.(*user)
	}
	return &user{}
}

func now() int64 { return time.Now().UnixMilli() }

func errorf(code, format string, args ...any) error {
	return &sockhop.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func checkRoom(room string) error {
	if !roomRE.MatchString(room) {
		return errorf("bad_room", "a room name is 1 to 24 of a-z, 0-9, '_' or '-'")
	}
	return nil
}

func checkNick(nick string) error {
	if !nickRE.MatchString(nick) {
		return errorf("bad_nick", "a nickname is 1 to 20 letters, digits, '_', '-' or '.'")
	}
	return nil
}

// join moves the session into a room, under a nickname unique in that room.
func (c *chat) join(ctx context.Context, s *sockhop.Session, req joinReq) (joined, error) {
	u := userOf(s)
	room := cmp.Or(strings.ToLower(strings.TrimSpace(req.Room)), u.room, defaultRoom)
	nick := cmp.Or(strings.TrimSpace(req.Nick), u.nick)
	if err := checkRoom(room); err != nil {
		return joined{}, err
	}
	if nick == "" {
		return joined{}, errorf("bad_nick", "choose a nickname first")
	}
	if err := checkNick(nick); err != nil {
		return joined{}, err
	}
	if room != u.room || nick != u.nick { // else: joining again after a reconnect
		if room == u.room { // a rename through join
			if _, err := c.rename(ctx, s, u, nick); err != nil {
				return joined{}, err
			}
		} else {
			ok, err := c.store.claim(ctx, room, nick)
			if err != nil {
				return joined{}, err
			}
			if !ok {
				return joined{}, errorf("nick_taken", "the nickname %q is taken in #%s", nick, room)
			}
			c.leave(ctx, s, u)
			u.room, u.nick = room, nick
			if !req.Subscribe {
				if err := s.Join(ctx, sockhopRoom(room)); err != nil {
					return joined{}, err
				}
			}
			members, _ := c.store.members(ctx, room)
			c.emit(ctx, room, "notice", notice{Room: room, Kind: "join", Nick: nick, Members: members, TS: now()}, s.ID())
			c.emitRooms(ctx)
		}
	}
	members, err := c.store.members(ctx, room)
	if err != nil {
		return joined{}, err
	}
	hist, err := c.history(ctx, room)
	if err != nil {
		return joined{}, err
	}
	list, err := c.roomList(ctx)
	if err != nil {
		return joined{}, err
	}
	if hist == nil {
		hist = []message{} // the page reads a list
	}
	return joined{Room: room, Nick: nick, Members: members, History: hist, Rooms: list}, nil
}

// leave takes the session out of its room, if any, and tells the room.
func (c *chat) leave(ctx context.Context, s *sockhop.Session, u *user) {
	if u.room == "" {
		return
	}
	room, nick := u.room, u.nick
	u.room = ""
	_ = s.Leave(ctx, sockhopRoom(room))
	if err := c.store.release(ctx, room, nick); err != nil {
		c.log.Warn("chat: releasing a nickname", "room", room, "nick", nick, "err", err)
	}
	members, _ := c.store.members(ctx, room)
	c.emit(ctx, room, "notice", notice{Room: room, Kind: "leave", Nick: nick, Members: members, TS: now()}, s.ID())
	c.emitRooms(ctx)
}

// nick renames the session in its room.
func (c *chat) nick(ctx context.Context, s *sockhop.Session, req struct {
	Nick string `json:"nick"`
}) (map[string]string, error) {
	u := userOf(s)
	nick := strings.TrimSpace(req.Nick)
	if err := checkNick(nick); err != nil {
		return nil, err
	}
	if u.room == "" { // not in a room yet: just remember it
		u.nick = nick
		return map[string]string{"nick": nick}, nil
	}
	return c.rename(ctx, s, u, nick)
}

func (c *chat) rename(ctx context.Context, s *sockhop.Session, u *user, nick string) (map[string]string, error) {
	old := u.nick
	if nick == old {
		return map[string]string{"nick": nick}, nil
	}
	if !strings.EqualFold(nick, old) { // a change of case keeps the claim
		ok, err := c.store.claim(ctx, u.room, nick)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf("nick_taken", "the nickname %q is taken in #%s", nick, u.room)
		}
	}
	if err := c.store.release(ctx, u.room, old); err != nil {
		return nil, err
	}
	if strings.EqualFold(nick, old) {
		if _, err := c.store.claim(ctx, u.room, nick); err != nil {
			return nil, err
		}
	}
	u.nick = nick
	members, _ := c.store.members(ctx, u.room)
	c.emit(ctx, u.room, "notice", notice{Room: u.room, Kind: "rename", Nick: nick, Old: old, Members: members, TS: now()})
	return map[string]string{"nick": nick}, nil
}

// say sends a message to the session's room.
func (c *chat) say(ctx context.Context, s *sockhop.Session, req struct {
	Text string `json:"text"`
}) (map[string]string, error) {
	u := userOf(s)
	if u.room == "" {
		return nil, errorf("not_joined", "join a room first")
	}
	text := strings.TrimSpace(req.Text)
	n := utf8.RuneCountInString(text)
	switch {
	case n == 0:
		return nil, errorf("empty", "the message is empty")
	case n > maxText:
		return nil, errorf("too_long", "the message has %d characters; the limit is %d", n, maxText)
	}
	m := message{ID: newID(), Room: u.room, Nick: u.nick, Text: text, TS: now()}
	// Durable (the room's Channel): kept in the history, or not sent at all.
	if err := c.srv.To(sockhopRoom(u.room)).Emit(ctx, "msg", m); err != nil {
		c.log.Warn("chat: saying", "room", u.room, "err", err)
		return nil, errorf("unavailable", "the message could not be kept; try again")
	}
	return map[string]string{"id": m.ID}, nil
}

// typing tells the others in the session's room that it is typing: volatile, dropped for
// a slow or disconnected member (a late "typing…" is worse than none), never in history.
func (c *chat) typing(ctx context.Context, s *sockhop.Session, _ struct{}) error {
	u := userOf(s)
	if u.room == "" {
		return nil
	}
	return c.srv.To(sockhopRoom(u.room)).Except(s.ID()).Class(sockhop.Volatile).Emit(ctx, "typing", typing{Room: u.room, Nick: u.nick})
}

// history returns room's last messages, oldest first, from the durable history.
func (c *chat) history(ctx context.Context, room string) ([]message, error) {
	entries, _, _, err := c.hist.Since(ctx, sockhopRoom(room), rooms.Position{}, historySize)
	if err != nil {
		return nil, err
	}
	out := make([]message, 0, len(entries))
	for _, e := range entries {
		var ev struct {
			N string  `json:"n"`
			D message `json:"d"`
		}
		if json.Unmarshal(e.Data, &ev) == nil && ev.N == "msg" {
			out = append(out, ev.D)
		}
	}
	return out, nil
}

// emit sends notices and room lists: Default, not in the history.
func (c *chat) emit(ctx context.Context, room, name string, v any, except ...string) {
	if err := c.srv.To(sockhopRoom(room)).Except(except...).Class(sockhop.Default).Emit(ctx, name, v); err != nil {
		c.log.Warn("chat: broadcast", "room", room, "event", name, "err", err)
	}
}

func (c *chat) roomList(ctx context.Context) ([]roomInfo, error) {
	list, err := c.store.rooms(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(list, func(r roomInfo) bool { return r.Name == defaultRoom }) {
		list = append(list, roomInfo{Name: defaultRoom})
	}
	slices.SortFunc(list, func(a, b roomInfo) int {
		return cmp.Or(cmp.Compare(b.Members, a.Members), strings.Compare(a.Name, b.Name))
	})
	return list, nil
}

// emitRooms sends the room list to everyone (on every node, through the adapter).
func (c *chat) emitRooms(ctx context.Context) {
	list, err := c.roomList(ctx)
	if err != nil {
		c.log.Warn("chat: room list", "err", err)
		return
	}
	if err := c.srv.To(everyone).Emit(ctx, "rooms", list); err != nil {
		c.log.Warn("chat: broadcast rooms", "err", err)
	}
}

func newID() string {
	return rand.Text()[:12]
}
