package sockhop

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/rooms"
)

// orderWait is how long a node holds a durable broadcast that arrived before one with a
// lower offset of its room (two nodes or a Publisher published at once, and the broker
// brought the later first) before it fills the gap from the room's history.
const orderWait = 200 * time.Millisecond

// orderGate hands the durable broadcasts of each room to this node's members in offset
// order, whatever order they arrived in: from this node's own Emits and from the
// Adapter, published by several nodes at once. Clients keep the last position they took
// and drop a durable message at or below it as a duplicate (PROTOCOL.md §9), so one that
// arrived after a later one would be lost to them. A broadcast past a gap is held for
// orderWait; then the gap is read from the history (or given up when the history no longer
// has it) and everything held goes out in order. The first broadcast of a room the node
// has no state for is held the same way, unless it is the room's first (offset 1).
type orderGate struct {
	hist    func() rooms.History
	deliver func(rooms.Publication) // non-blocking; called under mu, in order
	log     *slog.Logger
	wait    time.Duration

	mu    sync.Mutex
	rooms map[string]*roomOrder
}

type roomOrder struct {
	epoch string
	last  uint64 // the last offset handed out here
	fresh bool   // no offset handed out yet: last is unknown
	held  map[uint64]rooms.Publication
	timer *time.Timer
	gen   int // the timer's generation: a fired timer of an older one does nothing
}

func newOrderGate(hist func() rooms.History, deliver func(rooms.Publication), log *slog.Logger) *orderGate {
	return &orderGate{hist: hist, deliver: deliver, log: log, wait: orderWait, rooms: make(map[string]*roomOrder)}
}

// admit hands p (a durable broadcast of room at pos) out now, in order, or holds it.
func (g *orderGate) admit(room string, pos events.Position, p rooms.Publication) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.rooms[room]
	if st == nil {
		st = &roomOrder{epoch: pos.Epoch, fresh: pos.Offset > 1}
		g.rooms[room] = st
	}
	if st.fresh && pos.Epoch == st.epoch && pos.Offset == 1 {
		st.fresh = false // the room's first broadcast: nothing came before it
	}
	switch {
	case pos.Epoch != st.epoch: // a new life of the history: what was held goes first
		g.flush(room, st)
		st.epoch, st.last, st.fresh = pos.Epoch, pos.Offset, false
		g.deliver(p)
	case st.fresh || pos.Offset > st.last+1:
		if st.held == nil {
			st.held = make(map[uint64]rooms.Publication)
		}
		st.held[pos.Offset] = p
		if st.timer == nil {
			st.gen++
			gen := st.gen
			st.timer = time.AfterFunc(g.wait, func() { g.fill(room, gen) })
		}
	case pos.Offset <= st.last:
		g.log.Debug("rooms: durable broadcast older than one delivered, dropped", "room", room, "offset", pos.Offset, "last", st.last)
	default:
		g.deliver(p)
		st.last = pos.Offset
		g.next(st)
	}
}

// next hands out the held broadcasts that follow st.last without a gap.
func (g *orderGate) next(st *roomOrder) {
	for {
		p, ok := st.held[st.last+1]
		if !ok {
			break
		}
		delete(st.held, st.last+1)
		g.deliver(p)
		st.last++
	}
	if len(st.held) == 0 && st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

// fill runs orderWait after a broadcast was held: it reads the gap before the held
// broadcasts from the history and hands out what it found and what was held, in order.
func (g *orderGate) fill(room string, gen int) {
	g.mu.Lock()
	st := g.rooms[room]
	if st == nil || st.gen != gen || st.timer == nil {
		g.mu.Unlock()
		return
	}
	since, fresh := rooms.Position{Epoch: st.epoch, Offset: st.last}, st.fresh
	g.mu.Unlock()
	var found []rooms.Entry
	if h := g.hist(); h != nil && !fresh {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var err error
		found, _, _, err = h.Since(ctx, room, since, 0)
		cancel()
		if err != nil {
			g.log.Warn("rooms: reading a gap of durable broadcasts failed", "room", room, "err", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rooms[room] != st || st.gen != gen || st.timer == nil {
		return // forgotten, or the gap closed meanwhile
	}
	for _, e := range found {
		if _, held := st.held[e.Offset]; !held && e.Offset > st.last {
			st.held[e.Offset] = rooms.Publication{Rooms: []string{room},
				Data: events.AppendPosition(nil, e.Data, room, since.Epoch, e.Offset)}
		}
	}
	g.flush(room, st)
}

// flush hands out everything held, in offset order, past any gap.
func (g *orderGate) flush(room string, st *roomOrder) {
	offs := slices.Sorted(maps.Keys(st.held))
	for _, o := range offs {
		if !st.fresh && o <= st.last {
			continue
		}
		g.deliver(st.held[o])
		if o > st.last+1 && !st.fresh {
			g.log.Info("rooms: durable broadcasts missing, not in the history any more", "room", room, "from", st.last+1, "to", o-1)
		}
		st.last, st.fresh = o, false
	}
	clear(st.held)
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

// forget drops the room's state (its last local member left), handing out what was held.
func (g *orderGate) forget(room string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.rooms[room]; st != nil {
		g.flush(room, st)
		delete(g.rooms, room)
	}
}

// close stops the timers.
func (g *orderGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, st := range g.rooms {
		if st.timer != nil {
			st.timer.Stop()
			st.timer = nil
		}
	}
}
