package cluster

import (
	"slices"
	"time"
)

// Op is one change of a node's sessions, as the node that made it tells the others.
type Op struct {
	// Kind is OpOpen, OpJoin, OpLeave or OpEnd.
	Kind string `json:"k"`
	// SID is the session's id.
	SID string `json:"s"`
	// User is the session's Identity.UserID (OpOpen only; "" is anonymous).
	User string `json:"u,omitempty"`
	// Room is the room joined or left (OpJoin, OpLeave).
	Room string `json:"r,omitempty"`
}

// The kinds of Op.
const (
	OpOpen  = "o" // a session opened
	OpJoin  = "j" // it joined Room
	OpLeave = "l" // it left Room
	OpEnd   = "e" // it ended, leaving every room
)

// Change says that User now has a first session in Room anywhere in the cluster (Joined),
// or no longer has any. Anonymous sessions (User "") make no Change.
type Change struct {
	Room   string
	User   string
	Joined bool
}

// view is what a node knows of every node's sessions, itself included. Not safe for
// concurrent use: Node guards it.
type view struct {
	nodes map[string]*peer
	rooms map[string]*room
}

// peer is one node as the view knows it.
type peer struct {
	id, addr, secret string
	seen             time.Time // last message from it
	seq              uint64    // its last op applied
	synced           bool      // its sessions are known: a snapshot arrived and no op was missed since
	asked            time.Time // when a snapshot was last asked of it
	sessions         map[string]*sess
}

type sess struct {
	user  string
	rooms []string // few per session: a slice beats a map
}

type room struct {
	members map[string]string // session id -> node id
	users   map[string]int    // user -> their sessions in the room; anonymous ones not counted
}

func newView() *view {
	return &view{nodes: make(map[string]*peer), rooms: make(map[string]*room)}
}

func (v *view) peer(id string) *peer {
	p := v.nodes[id]
	if p == nil {
		p = &peer{id: id, sessions: make(map[string]*sess)}
		v.nodes[id] = p
	}
	return p
}

// changes collects presence changes and nets them out: a user who leaves and joins again
// within one batch made no change.
type changes map[[2]string]int

func (c changes) add(room, user string, d int) {
	if user == "" {
		return
	}
	k := [2]string{room, user}
	if c[k] += d; c[k] == 0 {
		delete(c, k)
	}
}

func (c changes) list() []Change {
	if len(c) == 0 {
		return nil
	}
	out := make([]Change, 0, len(c))
	for k, d := range c {
		out = append(out, Change{Room: k[0], User: k[1], Joined: d > 0})
	}
	slices.SortFunc(out, func(a, b Change) int {
		if a.Room != b.Room {
			return compare(a.Room, b.Room)
		}
		return compare(a.User, b.User)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// apply applies op of node p; what it changes of presence goes into ch.
func (v *view) apply(p *peer, op Op, ch changes) {
	switch op.Kind {
	case OpOpen:
		if p.sessions[op.SID] == nil {
			p.sessions[op.SID] = &sess{user: op.User}
		}
	case OpJoin:
		s := p.sessions[op.SID]
		if s == nil || slices.Contains(s.rooms, op.Room) {
			return
		}
		s.rooms = append(s.rooms, op.Room)
		v.join(p.id, op.SID, s.user, op.Room, ch)
	case OpLeave:
		s := p.sessions[op.SID]
		if s == nil {
			return
		}
		i := slices.Index(s.rooms, op.Room)
		if i < 0 {
			return
		}
		s.rooms = slices.Delete(s.rooms, i, i+1)
		v.leave(op.SID, s.user, op.Room, ch)
	case OpEnd:
		v.end(p, op.SID, ch)
	}
}

func (v *view) join(node, sid, user, name string, ch changes) {
	r := v.rooms[name]
	if r == nil {
		r = &room{members: make(map[string]string), users: make(map[string]int)}
		v.rooms[name] = r
	}
	r.members[sid] = node
	if user != "" {
		if r.users[user]++; r.users[user] == 1 {
			ch.add(name, user, 1)
		}
	}
}

func (v *view) leave(sid, user, name string, ch changes) {
	r := v.rooms[name]
	if r == nil {
		return
	}
	delete(r.members, sid)
	if user != "" {
		if r.users[user]--; r.users[user] <= 0 {
			delete(r.users, user)
			ch.add(name, user, -1)
		}
	}
	if len(r.members) == 0 {
		delete(v.rooms, name)
	}
}

func (v *view) end(p *peer, sid string, ch changes) {
	s := p.sessions[sid]
	if s == nil {
		return
	}
	for _, name := range s.rooms {
		v.leave(sid, s.user, name, ch)
	}
	delete(p.sessions, sid)
}

// replace makes ss the whole of p's sessions (a snapshot).
func (v *view) replace(p *peer, ss []SnapSession, ch changes) {
	for sid := range p.sessions {
		v.end(p, sid, ch)
	}
	for _, s := range ss {
		v.apply(p, Op{Kind: OpOpen, SID: s.SID, User: s.User}, ch)
		for _, r := range s.Rooms {
			v.apply(p, Op{Kind: OpJoin, SID: s.SID, Room: r}, ch)
		}
	}
}

// drop forgets node p and its sessions.
func (v *view) drop(p *peer, ch changes) {
	for sid := range p.sessions {
		v.end(p, sid, ch)
	}
	delete(v.nodes, p.id)
}

// snapshot returns p's sessions as a snapshot carries them.
func (p *peer) snapshot() []SnapSession {
	out := make([]SnapSession, 0, len(p.sessions))
	for sid, s := range p.sessions {
		out = append(out, SnapSession{SID: sid, User: s.user, Rooms: slices.Clone(s.rooms)})
	}
	return out
}
