package rooms

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// NewMemoryHistory returns a [History] kept in this process: for one node, or for tests.
// Its epochs are new for every process (and for a room forgotten after its TTL).
func NewMemoryHistory() History {
	return &memHistory{rooms: make(map[string]*memRoom)}
}

type memHistory struct {
	mu    sync.Mutex
	rooms map[string]*memRoom
	now   func() time.Time // tests; nil is time.Now
}

type memRoom struct {
	epoch   string
	top     uint64
	entries []memEntry // oldest first, offsets top-len+1 … top
	last    time.Time  // the last Append
}

type memEntry struct {
	Entry
	at time.Time
}

func newEpoch() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (h *memHistory) time() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// room returns room's history, forgetting it first when nothing was appended for ttl;
// nil when there is none and create is false. Called with h.mu held.
func (h *memHistory) room(room string, ttl time.Duration, now time.Time, create bool) *memRoom {
	r := h.rooms[room]
	if r != nil && ttl > 0 && now.Sub(r.last) > ttl {
		delete(h.rooms, room)
		r = nil
	}
	if r == nil && create {
		r = &memRoom{epoch: newEpoch()}
		h.rooms[room] = r
	}
	return r
}

// trim drops the entries past opts. Called with h.mu held.
func (r *memRoom) trim(opts HistoryOptions, now time.Time) {
	drop := 0
	if opts.Size > 0 && len(r.entries) > opts.Size {
		drop = len(r.entries) - opts.Size
	}
	for opts.TTL > 0 && drop < len(r.entries) && now.Sub(r.entries[drop].at) > opts.TTL {
		drop++
	}
	if drop > 0 {
		clear(r.entries[:drop])
		r.entries = r.entries[drop:]
	}
}

func (h *memHistory) Append(ctx context.Context, room string, data []byte, opts HistoryOptions) (Position, error) {
	if err := ctx.Err(); err != nil {
		return Position{}, err
	}
	now := h.time()
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.room(room, opts.TTL, now, true)
	r.top++
	r.last = now
	r.entries = append(r.entries, memEntry{Entry{Offset: r.top, Data: append([]byte(nil), data...)}, now})
	r.trim(opts, now)
	return Position{Epoch: r.epoch, Offset: r.top}, nil
}

func (h *memHistory) Since(ctx context.Context, room string, since Position, limit int) ([]Entry, Position, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, Position{}, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		// Nothing kept: complete only for a client that saw nothing either.
		return nil, Position{}, since == Position{}, nil
	}
	latest := Position{Epoch: r.epoch, Offset: r.top}
	if since.Epoch != r.epoch && since != (Position{}) || since.Offset > r.top {
		return nil, latest, false, nil
	}
	var out []Entry
	complete := true
	first := r.top - uint64(len(r.entries)) + 1 // the oldest offset kept
	if since.Offset+1 < first {
		complete = false
	}
	for _, e := range r.entries {
		if e.Offset > since.Offset {
			out = append(out, Entry{Offset: e.Offset, Data: e.Data})
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
		complete = false
	}
	return out, latest, complete, nil
}
