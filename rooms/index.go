package rooms

import (
	"hash/maphash"
	"slices"
	"sync"
)

// shardCount is the number of lock shards on each side of an Index. A power of two, so a
// hash picks a shard with a mask. 64 shards keep contention low on machines with dozens of
// cores while costing about 8 KiB per Index.
const shardCount = 64

// maxPooledBuf is the largest snapshot buffer (in members) that Each returns to its pool;
// bigger ones are left to the garbage collector so one huge room does not pin memory.
const maxPooledBuf = 1 << 16

// Index is a sharded membership index: which members are in which room, and which rooms
// each member is in. M is the member type; the server uses its session pointer.
//
// Rooms are created by their first Join and removed by their last Leave, so an Index holds
// no empty rooms. Room names are arbitrary strings, the empty string included; checking
// names is the caller's business.
//
// The room side is split into 64 shards by a hash of the room name, each guarded by its own
// RWMutex; the member side into 64 shards by a hash of the member, each guarded by its own
// Mutex. Changes lock the member's shard, then the room's shard (always in that order), so
// both sides always agree. Each, Members and Count lock only the room shards they need, and
// only long enough to copy a room's member list.
//
// Use [NewIndex] to make one. All methods may be called concurrently.
type Index[M comparable] struct {
	seed    maphash.Seed
	rooms   [shardCount]roomShard[M]
	members [shardCount]memberShard[M]
	bufs    sync.Pool // *[]M: snapshot buffers for Each
	seen    sync.Pool // *map[M]struct{}: dedup sets for multi-room Each
}

type roomShard[M comparable] struct {
	mu    sync.RWMutex
	rooms map[string]*room[M] // guarded by mu
	_     [64 - 32]byte       // keep neighbouring shards' locks off one cache line
}

// room is one room's member set: a dense list for fast copying plus a position map for
// O(1) removal (swap with the last element).
type room[M comparable] struct {
	list []M
	pos  map[M]int
}

type memberShard[M comparable] struct {
	mu      sync.Mutex
	members map[M]map[string]struct{} // guarded by mu
	_       [64 - 16]byte
}

// NewIndex returns an empty Index.
func NewIndex[M comparable]() *Index[M] {
	x := &Index[M]{seed: maphash.MakeSeed()}
	for i := range x.rooms {
		x.rooms[i].rooms = make(map[string]*room[M])
		x.members[i].members = make(map[M]map[string]struct{})
	}
	return x
}

func (x *Index[M]) roomShard(name string) *roomShard[M] {
	return &x.rooms[maphash.String(x.seed, name)&(shardCount-1)]
}

func (x *Index[M]) memberShard(m M) *memberShard[M] {
	return &x.members[maphash.Comparable(x.seed, m)&(shardCount-1)]
}

// Join adds m to the room. added reports whether m was not in the room before (Join is
// idempotent); created reports whether the room had no members before, which is when a
// server subscribes its [Adapter] to the room.
func (x *Index[M]) Join(name string, m M) (added, created bool) {
	ms := x.memberShard(m)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	set := ms.members[m]
	if _, ok := set[name]; ok {
		return false, false
	}
	if set == nil {
		set = make(map[string]struct{}, 4)
		ms.members[m] = set
	}
	set[name] = struct{}{}

	rs := x.roomShard(name)
	rs.mu.Lock()
	r := rs.rooms[name]
	if r == nil {
		r = &room[M]{pos: make(map[M]int, 4)}
		rs.rooms[name] = r
		created = true
	}
	r.pos[m] = len(r.list)
	r.list = append(r.list, m)
	rs.mu.Unlock()
	return true, created
}

// Leave removes m from the room. removed reports whether m was in the room; emptied
// reports whether the room has no members left (and so no longer exists), which is when a
// server unsubscribes its [Adapter] from the room.
func (x *Index[M]) Leave(name string, m M) (removed, emptied bool) {
	ms := x.memberShard(m)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	set := ms.members[m]
	if _, ok := set[name]; !ok {
		return false, false
	}
	delete(set, name)
	if len(set) == 0 {
		delete(ms.members, m)
	}
	return true, x.removeFromRoom(name, m)
}

// LeaveAll removes m from every room it is in, as a server does when a session ends, and
// returns the rooms that became empty (in no particular order; nil when none did).
func (x *Index[M]) LeaveAll(m M) (emptied []string) {
	ms := x.memberShard(m)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	set := ms.members[m]
	delete(ms.members, m)
	for name := range set {
		if x.removeFromRoom(name, m) {
			emptied = append(emptied, name)
		}
	}
	return emptied
}

// removeFromRoom deletes m from the room's list and reports whether the room became empty.
// The caller holds m's member shard lock and knows that m is in the room.
func (x *Index[M]) removeFromRoom(name string, m M) (emptied bool) {
	rs := x.roomShard(name)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.rooms[name]
	if r == nil {
		return false // cannot happen while both sides agree
	}
	i, ok := r.pos[m]
	if !ok {
		return false
	}
	last := len(r.list) - 1
	if i != last {
		moved := r.list[last]
		r.list[i] = moved
		r.pos[moved] = i
	}
	var zero M
	r.list[last] = zero // drop the reference for the garbage collector
	r.list = r.list[:last]
	delete(r.pos, m)
	if last == 0 {
		delete(rs.rooms, name)
		return true
	}
	if c := cap(r.list); c > 64 && len(r.list) < c/4 {
		r.list = slices.Clip(slices.Clone(r.list)) // give back memory after a mass exodus
	}
	return false
}

// Has reports whether m is in the room.
func (x *Index[M]) Has(name string, m M) bool {
	rs := x.roomShard(name)
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	r := rs.rooms[name]
	if r == nil {
		return false
	}
	_, ok := r.pos[m]
	return ok
}

// Count returns the number of members in the room.
func (x *Index[M]) Count(name string) int {
	rs := x.roomShard(name)
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if r := rs.rooms[name]; r != nil {
		return len(r.list)
	}
	return 0
}

// Members returns a snapshot of the room's members in no particular order, or nil when the
// room does not exist. The caller owns the returned slice.
func (x *Index[M]) Members(name string) []M {
	rs := x.roomShard(name)
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if r := rs.rooms[name]; r != nil {
		return slices.Clone(r.list)
	}
	return nil
}

// Rooms returns the names of all rooms (those with at least one member), sorted.
func (x *Index[M]) Rooms() []string {
	var out []string
	for i := range x.rooms {
		rs := &x.rooms[i]
		rs.mu.RLock()
		for name := range rs.rooms {
			out = append(out, name)
		}
		rs.mu.RUnlock()
	}
	slices.Sort(out)
	return out
}

// Len returns the number of rooms.
func (x *Index[M]) Len() int {
	n := 0
	for i := range x.rooms {
		rs := &x.rooms[i]
		rs.mu.RLock()
		n += len(rs.rooms)
		rs.mu.RUnlock()
	}
	return n
}

// RoomsOf returns the names of the rooms m is in, sorted; nil when none.
func (x *Index[M]) RoomsOf(m M) []string {
	ms := x.memberShard(m)
	ms.mu.Lock()
	set := ms.members[m]
	var out []string
	if len(set) > 0 {
		out = make([]string, 0, len(set))
		for name := range set {
			out = append(out, name)
		}
	}
	ms.mu.Unlock()
	slices.Sort(out)
	return out
}

// Each calls fn once for every member of any of the named rooms and returns how many
// members it visited. A member in several of the rooms, or a room named twice, is visited
// once. Each visits a snapshot: every member that was in one of the rooms when Each copied
// that room; members that join or leave while fn runs may or may not be visited.
//
// Each holds the rooms' shard read locks only while copying member lists into a pooled
// buffer (for up to 8 rooms it holds them together and drops a member of a later room that
// an earlier room has, with one map lookup per earlier room) and calls fn with no lock
// held, so fn may call any method of the Index. Each allocates nothing once its pool is
// warm. fn runs on the caller's goroutine, in no particular order
// of members; it should be quick (a server only enqueues), since the buffer is held until
// Each returns.
func (x *Index[M]) Each(names []string, fn func(M)) int {
	if len(names) == 0 {
		return 0
	}
	bp, _ := x.bufs.Get().(*[]M)
	if bp == nil {
		bp = new([]M)
	}
	buf := (*bp)[:0]
	switch {
	case len(names) == 1:
		rs := x.roomShard(names[0])
		rs.mu.RLock()
		if r := rs.rooms[names[0]]; r != nil {
			buf = append(buf, r.list...)
		}
		rs.mu.RUnlock()
	case len(names) <= maxUnion:
		buf = x.appendUnion(buf, names)
	default:
		for _, name := range names {
			rs := x.roomShard(name)
			rs.mu.RLock()
			if r := rs.rooms[name]; r != nil {
				buf = append(buf, r.list...)
			}
			rs.mu.RUnlock()
		}
		buf = x.dedup(buf)
	}
	for _, m := range buf {
		fn(m)
	}
	n := len(buf)
	if cap(buf) <= maxPooledBuf {
		clear(buf) // do not keep members alive through the pool
		*bp = buf[:0]
		x.bufs.Put(bp)
	}
	return n
}

// maxUnion is the most rooms Each unites by looking members up in the earlier rooms'
// position maps; more rooms fall back to a pooled seen-set.
const maxUnion = 8

// appendUnion appends each member of the rooms (at most maxUnion of them) to buf once: a
// member of room i is skipped when one of rooms 0..i-1 has it. It read-locks the shards of
// all the rooms at once, in ascending shard order; writers hold at most one room shard at a
// time, so the order rules out deadlock.
func (x *Index[M]) appendUnion(buf []M, names []string) []M {
	var (
		shards [maxUnion]int
		rs     [maxUnion]*room[M]
		ns     int
	)
	for _, name := range names {
		s := int(maphash.String(x.seed, name) & (shardCount - 1))
		i := 0
		for i < ns && shards[i] < s {
			i++
		}
		if i < ns && shards[i] == s {
			continue
		}
		copy(shards[i+1:ns+1], shards[i:ns])
		shards[i] = s
		ns++
	}
	for _, s := range shards[:ns] {
		x.rooms[s].mu.RLock()
	}
	for i, name := range names {
		rs[i] = x.roomShard(name).rooms[name]
	}
	for i, r := range rs[:len(names)] {
		if r == nil {
			continue
		}
	members:
		for _, m := range r.list {
			for _, prev := range rs[:i] {
				if prev != nil {
					if _, ok := prev.pos[m]; ok {
						continue members
					}
				}
			}
			buf = append(buf, m)
		}
	}
	for _, s := range shards[:ns] {
		x.rooms[s].mu.RUnlock()
	}
	return buf
}

// dedup removes repeated members from buf in place, keeping first occurrences.
func (x *Index[M]) dedup(buf []M) []M {
	sp, _ := x.seen.Get().(*map[M]struct{})
	if sp == nil {
		m := make(map[M]struct{}, len(buf))
		sp = &m
	}
	seen := *sp
	out := buf[:0]
	for _, m := range buf {
		if _, dup := seen[m]; dup {
			continue
		}
		seen[m] = struct{}{}
		out = append(out, m)
	}
	clear(buf[len(out):])
	clear(seen)
	if len(out) <= maxPooledBuf {
		x.seen.Put(sp)
	}
	return out
}
