package main

import (
	"context"
	"slices"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// historySize is how many messages a room keeps for newcomers (its durable history:
// Channel.HistorySize of the chat rooms).
const historySize = 50

// store keeps the chat state that must be shared by every process serving the chat:
// nicknames per room and the room list. sockhop's rooms carry the broadcasts and keep
// what was said (durable, chat.go); the store answers "who is here".
type store interface {
	// claim reserves nick in room; false when someone there has it (case-insensitively).
	claim(ctx context.Context, room, nick string) (bool, error)
	release(ctx context.Context, room, nick string) error
	members(ctx context.Context, room string) ([]string, error)
	rooms(ctx context.Context) ([]roomInfo, error)
	close() error
}

// memStore is the store of a single process.
type memStore struct {
	mu    sync.Mutex
	nicks map[string]map[string]string // room -> lower(nick) -> nick
}

func newMemStore() *memStore {
	return &memStore{nicks: make(map[string]map[string]string)}
}

func (m *memStore) claim(_ context.Context, room, nick string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.nicks[room]
	if r == nil {
		r = make(map[string]string)
		m.nicks[room] = r
	}
	key := strings.ToLower(nick)
	if _, taken := r[key]; taken {
		return false, nil
	}
	r[key] = nick
	return true, nil
}

func (m *memStore) release(_ context.Context, room, nick string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.nicks[room]; r != nil {
		delete(r, strings.ToLower(nick))
		if len(r) == 0 {
			delete(m.nicks, room)
		}
	}
	return nil
}

func (m *memStore) members(_ context.Context, room string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, n := range m.nicks[room] {
		out = append(out, n)
	}
	sortNicks(out)
	return out, nil
}

func (m *memStore) rooms(_ context.Context) ([]roomInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []roomInfo
	for name, r := range m.nicks {
		out = append(out, roomInfo{Name: name, Members: len(r)})
	}
	return out, nil
}

func (m *memStore) close() error { return nil }

func sortNicks(n []string) {
	slices.SortFunc(n, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
}

// redisStore shares the chat state through Redis, so that several chat processes (with
// the rooms/redis adapter carrying their broadcasts) form one chat. Keys:
// <p>:nicks:<room> (hash lower(nick) -> nick), <p>:rooms (set). A process that dies without its shutdown leaves
// its nicknames behind; a real deployment would give them a TTL refreshed by heartbeats.
type redisStore struct {
	rdb    *goredis.Client
	prefix string
}

func newRedisStore(url string) (*redisStore, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return &redisStore{rdb: goredis.NewClient(opts), prefix: "sockhop-chat"}, nil
}

func (r *redisStore) key(parts ...string) string {
	return r.prefix + ":" + strings.Join(parts, ":")
}

func (r *redisStore) claim(ctx context.Context, room, nick string) (bool, error) {
	ok, err := r.rdb.HSetNX(ctx, r.key("nicks", room), strings.ToLower(nick), nick).Result()
	if err != nil || !ok {
		return false, err
	}
	return true, r.rdb.SAdd(ctx, r.key("rooms"), room).Err()
}

func (r *redisStore) release(ctx context.Context, room, nick string) error {
	if err := r.rdb.HDel(ctx, r.key("nicks", room), strings.ToLower(nick)).Err(); err != nil {
		return err
	}
	if n, err := r.rdb.HLen(ctx, r.key("nicks", room)).Result(); err == nil && n == 0 {
		return r.rdb.SRem(ctx, r.key("rooms"), room).Err()
	}
	return nil
}

func (r *redisStore) members(ctx context.Context, room string) ([]string, error) {
	out, err := r.rdb.HVals(ctx, r.key("nicks", room)).Result()
	sortNicks(out)
	return out, err
}

func (r *redisStore) rooms(ctx context.Context) ([]roomInfo, error) {
	names, err := r.rdb.SMembers(ctx, r.key("rooms")).Result()
	if err != nil {
		return nil, err
	}
	var out []roomInfo
	for _, name := range names {
		n, err := r.rdb.HLen(ctx, r.key("nicks", name)).Result()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out = append(out, roomInfo{Name: name, Members: int(n)})
		}
	}
	return out, nil
}

func (r *redisStore) close() error { return r.rdb.Close() }
