package sockhop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/cluster"
	"github.com/sockhop/sockhop/rooms"
)

// The cluster, the server's part (docs/scaling.md): every server keeps a cluster.Node, a
// view of which session is in which room on which node. Alone (no Adapter) it holds only
// this server's sessions; with an Adapter the node tells the others what changes in its
// sessions and learns theirs, so Members, Count, Presence and DisconnectUser answer for
// the whole cluster, and forward.go sends a request to the node its session lives on.

// nodeIDPattern is a node id (PROTOCOL.md §7).
var nodeIDPattern = regexp.MustCompile(`^n[a-z0-9]{3,31}$`)

// newNodeID returns a random node id of 13 characters (60 random bits).
func newNodeID() string {
	const alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(randomID(12))
	for i := range b {
		b[i] = alpha[int(b[i])%len(alpha)]
	}
	return "n" + string(b)
}

// startCluster makes srv.node, and, with an Adapter, joins the cluster.
func (srv *Server) startCluster() error {
	o := srv.opts
	cfg := cluster.Config{
		ID:        o.NodeID,
		Heartbeat: o.NodeHeartbeat,
		TTL:       o.NodeTTL,
		Secret:    randomID(24),
		OnChange:  srv.presenceChanged,
		OnKick:    srv.kickLocal,
		Log:       srv.log,
	}
	if cfg.ID == "" {
		cfg.ID = newNodeID()
	} else if !nodeIDPattern.MatchString(cfg.ID) {
		return fmt.Errorf("sockhop: NodeID %q is not \"n\" and 3 to 31 characters of [a-z0-9]", cfg.ID)
	}
	if o.Advertise != "" {
		u, err := url.Parse(o.Advertise)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return fmt.Errorf("sockhop: Advertise %q is not a base URL such as http://10.0.0.5:8080", o.Advertise)
		}
		cfg.Addr = u.Scheme + "://" + u.Host
	}
	if o.Adapter != nil {
		cfg.Publish = func(ctx context.Context, data []byte) error {
			return srv.callAdapter("Publish", func() error {
				return srv.adapter.Publish(ctx, rooms.Publication{Rooms: []string{cluster.Room}, Data: data})
			})
		}
	}
	srv.node = cluster.New(cfg)
	srv.nodeHeader = []string{srv.node.ID()}
	if o.Adapter == nil {
		return nil
	}
	if err := srv.callAdapter("Subscribe", func() error { return srv.adapter.Subscribe(srv.baseCtx, cluster.Room) }); err != nil {
		srv.log.Warn("cluster: subscribe failed; retried when the broker is back", "err", err)
	}
	srv.node.Start()
	return nil
}

// NodeID returns this server's node id (PROTOCOL.md §7).
func (srv *Server) NodeID() string { return srv.node.ID() }

// clustered reports whether srv is a node of a cluster (it has an Adapter).
func (srv *Server) clustered() bool { return srv.opts.Adapter != nil }

// validRoom checks an app's room name: the names that begin with a NUL byte are the
// server's own (cluster.Room).
func validRoom(room string) error {
	switch {
	case room == "":
		return errors.New("sockhop: empty room name")
	case room[0] == 0:
		return fmt.Errorf("sockhop: room name %q: names beginning with a NUL byte are reserved", room)
	}
	return nil
}

// presenceChanged sends presence events for changes (cluster.Config.OnChange) to this
// node's members of each room; every node does the same for its own.
func (srv *Server) presenceChanged(changes []cluster.Change) {
	f := srv.opts.PresenceEvents
	if f == nil {
		return
	}
	for _, c := range changes {
		if !srv.presenceRoom(f, c.Room) {
			continue
		}
		name := "presence:leave"
		if c.Joined {
			name = "presence:join"
		}
		data, _ := json.Marshal(struct {
			Room string `json:"room"`
			User string `json:"user"`
		}{c.Room, c.User})
		msg := events.AppendEvent(nil, name, data, 0)
		srv.rooms.Each([]string{c.Room}, func(s *Session) { _ = s.core.Send(msg, true) })
	}
}

func (srv *Server) presenceRoom(f func(string) bool, room string) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			srv.hookPanic("PresenceEvents", p, "room", room)
			ok = false
		}
	}()
	return f(room)
}

// kickLocal closes this node's sessions of user with CloseKicked.
func (srv *Server) kickLocal(user string) int {
	srv.mu.Lock()
	var victims []*Session
	for _, s := range srv.sessions {
		if s.Identity().UserID == user {
			victims = append(victims, s)
		}
	}
	srv.mu.Unlock()
	for _, s := range victims {
		s.Close(CloseKicked, "disconnected by the server")
	}
	return len(victims)
}

// DisconnectUser closes every session of the user with userID with CloseKicked
// (terminal: the client does not reconnect), on every node of the cluster, and returns
// how many there were. It waits for the nodes that have sessions of the user to answer,
// until ctx is done or at most 5 s; when one does not, it returns what the others closed
// and an error wrapping rooms.ErrUnavailable. When ctx is done already it closes nothing
// and returns ctx.Err().
func (srv *Server) DisconnectUser(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := srv.kickLocal(userID)
	if !srv.clustered() {
		return n, nil
	}
	m, err := srv.node.Kick(ctx, userID)
	if err != nil {
		err = fmt.Errorf("sockhop: DisconnectUser: %w: %w", rooms.ErrUnavailable, err)
	}
	return n + m, err
}

// Members returns the ids of the sessions in room on every node of the cluster, sorted.
// It answers from what this node knows: another node's change arrives within a broker
// round trip, a dead node's sessions leave after NodeTTL. It returns ctx.Err() when ctx
// is done already.
func (srv *Server) Members(ctx context.Context, room string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return srv.node.Members(room), nil
}

// Count returns the number of sessions in room on every node of the cluster, as Members
// knows them. For a hot path that only asks "does anyone here listen?" use LocalCount.
func (srv *Server) Count(ctx context.Context, room string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return srv.node.Count(room), nil
}

// LocalCount returns the number of sessions in room on this node: a lock and a map
// lookup, for hot paths such as "does anyone here listen?" before producing a message
// (the ticker example).
func (srv *Server) LocalCount(room string) int { return srv.rooms.Count(room) }

// Presence returns the users (Identity.UserID) with at least one session in room on any
// node of the cluster, sorted; three tabs of one user are one entry, anonymous sessions
// none. Options.PresenceEvents turns on events when it changes.
func (srv *Server) Presence(ctx context.Context, room string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Clip(srv.node.Users(room)), nil
}

// Nodes returns the nodes of the cluster this one knows (itself included), by id.
func (srv *Server) Nodes() []NodeInfo {
	ns := srv.node.Nodes()
	out := make([]NodeInfo, len(ns))
	for i, n := range ns {
		out[i] = NodeInfo(n)
	}
	return out
}

// NodeInfo describes a node of the cluster, as Server.Nodes returns it.
type NodeInfo struct {
	// ID is the node's id and Addr its Advertise address.
	ID, Addr string
	// Sessions is how many sessions it has.
	Sessions int
	// Synced is false while this node waits for a snapshot of the node's sessions
	// (a message of it was lost).
	Synced bool
	// Self is this node.
	Self bool
}
