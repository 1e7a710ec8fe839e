package sockhop

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

// Channel configures the rooms whose names begin with a prefix ([Server.Channel]): who may
// subscribe to them from the client, and how broadcasts to them are delivered
// (PROTOCOL.md §9). The longest matching prefix wins; "" matches every room. A room that
// matches no Channel refuses client subscriptions (forbidden) and gets Default broadcasts.
//
// Presence stays what [Server.Presence] and Options.PresenceEvents give (the users of a
// room, cluster-wide), whether the sessions joined by a client subscription or by
// [Session.Join].
type Channel struct {
	// Subscribe decides whether s may subscribe to room from the client ($sub); nil refuses
	// every client subscription (server-side Join still works). A *Error's code and
	// message reach the client; any other error is answered with code "forbidden", its
	// text logged, not sent. A panic is a refusal too (recovered and logged with its
	// stack); the session goes on.
	Subscribe func(ctx context.Context, s *Session, room string) error
	// Class is the class of the broadcasts to these rooms that do not choose one with
	// [Broadcast.Class]. Zero means Default.
	Class Class
	// HistorySize and HistoryTTL bound a durable room's history: at most HistorySize
	// messages, none older than HistoryTTL. Zero means DefaultHistorySize and
	// DefaultHistoryTTL.
	HistorySize int
	HistoryTTL  time.Duration
}

// channelRule is one Channel with its prefix.
type channelRule struct {
	prefix string
	ch     Channel
}

// Channel configures the rooms whose names begin with prefix (see [Channel]). Call it
// before serving; a second call with the same prefix replaces the first.
func (srv *Server) Channel(prefix string, ch Channel) {
	srv.channelsMu.Lock()
	defer srv.channelsMu.Unlock()
	rules := withRule(*srv.channels.Load(), prefix, ch)
	srv.channels.Store(&rules)
}

// withRule returns a copy of rules with ch for prefix (replacing the one it had), longest
// prefix first: the first match is the one that wins (lookupChannel).
func withRule(rules []channelRule, prefix string, ch Channel) []channelRule {
	out := make([]channelRule, 0, len(rules)+1)
	for _, r := range rules {
		if r.prefix != prefix {
			out = append(out, r)
		}
	}
	out = append(out, channelRule{prefix: prefix, ch: ch})
	slices.SortStableFunc(out, func(a, b channelRule) int { return len(b.prefix) - len(a.prefix) })
	return out
}

// channelFor returns the Channel of room, the zero Channel when none matches.
func (srv *Server) channelFor(room string) Channel {
	ch, _ := lookupChannel(*srv.channels.Load(), room)
	return ch
}

func lookupChannel(rules []channelRule, room string) (Channel, bool) {
	for _, r := range rules {
		if strings.HasPrefix(room, r.prefix) {
			return r.ch, true
		}
	}
	return Channel{}, false
}

// historyOptions returns the bounds of a durable room's history under ch.
func (ch Channel) historyOptions() rooms.HistoryOptions {
	o := rooms.HistoryOptions{Size: ch.HistorySize, TTL: ch.HistoryTTL}
	if o.Size <= 0 {
		o.Size = DefaultHistorySize
	}
	if o.TTL <= 0 {
		o.TTL = DefaultHistoryTTL
	}
	return o
}

// resolveHistory returns the History of opts: opts.History, else the adapter's when it
// implements rooms.History, else one in memory.
func resolveHistory(h rooms.History, adapter rooms.Adapter) rooms.History {
	if h != nil {
		return h
	}
	if ah, ok := adapter.(rooms.History); ok {
		return ah
	}
	return rooms.NewMemoryHistory()
}
