package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockhop/sockhop/rooms"
)

var (
	_ rooms.History = (*Adapter)(nil)
	_ rooms.Claimer = (*Adapter)(nil)
)

// historyKeys returns the keys of room's history: its stream, its offset counter and its
// epoch. They share one hash tag, "{r<room>}" (or "{b<base64url(room)>}" for a name that
// is empty or holds a brace), so that a Redis Cluster keeps them in one slot and one Lua
// script may touch all three.
func (a *Adapter) historyKeys(room string) []string {
	tag := "r" + room
	if room == "" || strings.ContainsAny(room, "{}") {
		tag = "b" + base64.RawURLEncoding.EncodeToString([]byte(room))
	}
	base := a.opts.KeyPrefix + ":h:{" + tag + "}:"
	return []string{base + "s", base + "o", base + "e"}
}

// appendScript appends ARGV[1] to a room's history (KEYS: stream, offset, epoch). A room
// without an epoch key (new, or forgotten after its TTL) starts again at offset 1 in the
// epoch ARGV[4]. The stream's IDs are Redis's own (time-ordered); the offset is a field.
// Entries are trimmed to exactly ARGV[2] (Size) and, when ARGV[3] (TTL in ms) is
// positive, to the entries younger than it, by their ID's time; then every key of the
// room expires TTL after this Append. It returns {epoch, offset}.
var appendScript = goredis.NewScript(`
local ep = redis.call('GET', KEYS[3])
if not ep then
  redis.call('DEL', KEYS[1], KEYS[2])
  ep = ARGV[4]
  redis.call('SET', KEYS[3], ep)
end
local o = redis.call('INCR', KEYS[2])
local size = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if size > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', size, '*', 'o', o, 'd', ARGV[1])
else
  redis.call('XADD', KEYS[1], '*', 'o', o, 'd', ARGV[1])
end
if ttl > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now > ttl then
    redis.call('XTRIM', KEYS[1], 'MINID', (now - ttl) .. '-0')
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {ep, o}
`)

// sinceScript reads a room's history (KEYS: stream, offset, epoch) after the position
// ARGV[1] (epoch), ARGV[2] (offset), at most ARGV[3] entries (0: no limit), in one step so
// that the epoch, the latest offset and the entries agree. It returns {epoch, latest
// offset, number of entries kept, entries}, entries newest first as XREVRANGE gives them:
// those after the position when its epoch is the history's (or it is the zero position),
// else none. The kept entries are contiguous and end at the latest offset: Append adds at
// the end and trimming drops from the front, so the entries after offset s are the newest
// latest-s.
var sinceScript = goredis.NewScript(`
local ep = redis.call('GET', KEYS[3])
if not ep then
  return {'', 0, 0, {}}
end
local o = tonumber(redis.call('GET', KEYS[2]) or '0')
local n = redis.call('XLEN', KEYS[1])
local s = tonumber(ARGV[2])
local want = 0
if (ARGV[1] == ep or (ARGV[1] == '' and s == 0)) and s <= o then
  want = o - s
end
local limit = tonumber(ARGV[3])
if limit > 0 and want > limit then
  want = limit
end
if want > n then
  want = n
end
local es = {}
if want > 0 then
  es = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', want)
end
return {ep, o, n, es}
`)

// newEpoch returns a random epoch name.
func newEpoch() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Append adds data to room's history in a Redis Stream and returns its position
// ([rooms.History]); see the package doc, "Histories". It works from [New] on, before
// Start. Errors wrap [rooms.ErrUnavailable] when Redis cannot be reached.
func (a *Adapter) Append(ctx context.Context, room string, data []byte, opts rooms.HistoryOptions) (rooms.Position, error) {
	if a.closed.Load() {
		return rooms.Position{}, rooms.ErrClosed
	}
	ttl := opts.TTL.Milliseconds()
	if opts.TTL > 0 && ttl == 0 {
		ttl = 1
	}
	res, err := appendScript.Run(ctx, a.client, a.historyKeys(room), data, max(opts.Size, 0), ttl, newEpoch()).Slice()
	if err != nil {
		return rooms.Position{}, a.redisErr("append", err)
	}
	if len(res) != 2 {
		return rooms.Position{}, fmt.Errorf("rooms/redis: append: unexpected reply %v", res)
	}
	ep, _ := res[0].(string)
	o, _ := res[1].(int64)
	if ep == "" || o <= 0 {
		return rooms.Position{}, fmt.Errorf("rooms/redis: append: unexpected reply %v", res)
	}
	return rooms.Position{Epoch: ep, Offset: uint64(o)}, nil
}

// Since returns room's entries after since ([rooms.History]), read in one Lua script so
// that the epoch, the latest offset and the entries agree.
func (a *Adapter) Since(ctx context.Context, room string, since rooms.Position, limit int) ([]rooms.Entry, rooms.Position, bool, error) {
	if a.closed.Load() {
		return nil, rooms.Position{}, false, rooms.ErrClosed
	}
	ep, top, kept, raw, err := a.since(ctx, a.historyKeys(room), since, max(limit, 0))
	if err != nil {
		return nil, rooms.Position{}, false, err
	}
	if ep == "" {
		// Nothing kept: complete only for a client that saw nothing either.
		return nil, rooms.Position{}, since == rooms.Position{}, nil
	}
	latest := rooms.Position{Epoch: ep, Offset: top}
	if since.Epoch != ep && since != (rooms.Position{}) || since.Offset > top {
		return nil, latest, false, nil
	}
	first := top - kept + 1 // the oldest offset kept
	complete := since.Offset+1 >= first
	var out []rooms.Entry
	for i := len(raw) - 1; i >= 0; i-- { // raw is newest first
		e, err := parseEntry(raw[i])
		if err != nil {
			return nil, rooms.Position{}, false, fmt.Errorf("rooms/redis: since: %w", err)
		}
		if e.Offset > since.Offset {
			out = append(out, e)
		}
	}
	if missed := top - since.Offset; limit > 0 && missed > uint64(limit) {
		if len(out) > limit {
			out = out[len(out)-limit:]
		}
		complete = false
	}
	return out, latest, complete, nil
}

// since runs sinceScript.
func (a *Adapter) since(ctx context.Context, keys []string, since rooms.Position, limit int) (epoch string, top, kept uint64, entries []any, err error) {
	res, err := sinceScript.Run(ctx, a.client, keys, since.Epoch, since.Offset, limit).Slice()
	if err != nil {
		return "", 0, 0, nil, a.redisErr("since", err)
	}
	if len(res) != 4 {
		return "", 0, 0, nil, fmt.Errorf("rooms/redis: since: unexpected reply %v", res)
	}
	epoch, _ = res[0].(string)
	o, _ := res[1].(int64)
	n, _ := res[2].(int64)
	entries, _ = res[3].([]any)
	return epoch, uint64(max(o, 0)), uint64(max(n, 0)), entries, nil
}

// parseEntry reads one XREVRANGE entry: [id, [field, value, ...]] with fields o and d.
func parseEntry(v any) (rooms.Entry, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return rooms.Entry{}, fmt.Errorf("malformed stream entry %v", v)
	}
	fields, ok := pair[1].([]any)
	if !ok {
		return rooms.Entry{}, fmt.Errorf("malformed stream entry %v", v)
	}
	var e rooms.Entry
	var haveO, haveD bool
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		s, _ := fields[i+1].(string)
		switch k {
		case "o":
			var o uint64
			if _, err := fmt.Sscan(s, &o); err != nil {
				return rooms.Entry{}, fmt.Errorf("malformed offset %q", s)
			}
			e.Offset, haveO = o, true
		case "d":
			e.Data, haveD = []byte(s), true
		}
	}
	if !haveO || !haveD {
		return rooms.Entry{}, fmt.Errorf("malformed stream entry %v", v)
	}
	return e, nil
}

// Claim reports whether key was not claimed within the last ttl ([rooms.Claimer]), with
// one SET NX PX on "<KeyPrefix>:c:<key>". Errors wrap [rooms.ErrUnavailable] when Redis
// cannot be reached.
func (a *Adapter) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if a.closed.Load() {
		return false, rooms.ErrClosed
	}
	ttl = max(ttl, time.Millisecond)
	ok, err := a.client.SetNX(ctx, a.opts.KeyPrefix+":c:"+key, "1", ttl).Result()
	if err != nil {
		return false, a.redisErr("claim", err)
	}
	return ok, nil
}

// redisErr wraps err of op: errors of the connection (not Redis's own error replies, nor
// the caller's context) wrap rooms.ErrUnavailable.
func (a *Adapter) redisErr(op string, err error) error {
	var re goredis.Error
	if errors.As(err, &re) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rooms/redis: %s: %w", op, err)
	}
	return fmt.Errorf("rooms/redis: %s: %w: %w", op, rooms.ErrUnavailable, err)
}
