package redis

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/historytest"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

// newHistoryAdapter makes an adapter on r (not started: histories work without Start);
// it is closed when t ends. Its dial timeout is the default's 2 s: a CI machine busy with
// the race detector and parallel tests once took over 300 ms to dial the local Redis (a
// stopped Redis refuses at once, so the Down test does not wait on it).
func newHistoryAdapter(t *testing.T, r *testutil.Redis) *Adapter {
	t.Helper()
	a, err := New(Options{Addr: r.Addr, Logger: nodetest.Logger(t), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a
}

// TestHistory runs the history and claimer conformance suites on a real redis-server, with
// one adapter and with two (two nodes) on one Redis.
func TestHistory(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	t.Run("Conformance", func(t *testing.T) {
		historytest.Run(t, func(t *testing.T) rooms.History { return newHistoryAdapter(t, r) })
	})
	t.Run("Claimer", func(t *testing.T) { historytest.RunClaimer(t, newHistoryAdapter(t, r)) })
	t.Run("TwoNodes", func(t *testing.T) {
		historytest.RunNodes(t, newHistoryAdapter(t, r), newHistoryAdapter(t, r))
	})
	t.Run("Restart", func(t *testing.T) {
		// Its own Redis: the harness runs it without persistence, so a restart loses all.
		r := testutil.StartRedis(t)
		historytest.RunLost(t, newHistoryAdapter(t, r), func() { r.Kill(); r.Start() })
	})
	t.Run("Down", func(t *testing.T) {
		r := testutil.StartRedis(t)
		a := newHistoryAdapter(t, r)
		r.Stop()
		ctx := context.Background()
		if _, err := a.Append(ctx, "x", []byte("1"), rooms.HistoryOptions{Size: 1}); !errors.Is(err, rooms.ErrUnavailable) {
			t.Errorf("Append with Redis down: %v, want ErrUnavailable", err)
		}
		if _, _, _, err := a.Since(ctx, "x", rooms.Position{}, 0); !errors.Is(err, rooms.ErrUnavailable) {
			t.Errorf("Since with Redis down: %v, want ErrUnavailable", err)
		}
		if _, err := a.Claim(ctx, "x", time.Second); !errors.Is(err, rooms.ErrUnavailable) {
			t.Errorf("Claim with Redis down: %v, want ErrUnavailable", err)
		}
	})
}

// TestHistoryKeys: a room's keys share one hash tag (one Redis Cluster slot), different
// rooms have different keys, and every key of a room expires with its TTL.
func TestHistoryKeys(t *testing.T) {
	a, err := New(Options{KeyPrefix: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	seen := map[string]string{}
	for _, room := range []string{"", "a", "{a}", "a}", "{", "}", "ra", "b", "x{y}z"} {
		keys := a.historyKeys(room)
		tag := ""
		for i, k := range keys {
			open := strings.IndexByte(k, '{')
			end := strings.IndexByte(k[open+1:], '}')
			if open < 0 || end <= 0 {
				t.Fatalf("room %q: key %q has no hash tag", room, k)
			}
			if i == 0 {
				tag = k[open+1 : open+1+end]
			} else if got := k[open+1 : open+1+end]; got != tag {
				t.Errorf("room %q: keys %v in different slots", room, keys)
			}
			if !strings.HasPrefix(k, "app:h:") {
				t.Errorf("room %q: key %q outside the prefix", room, k)
			}
		}
		if prev, dup := seen[keys[0]]; dup {
			t.Errorf("rooms %q and %q share key %q", prev, room, keys[0])
		}
		seen[keys[0]] = room
	}
}

// TestHistoryExpiry: every key of a room's history gets the TTL, and the history of an idle
// room disappears from Redis.
func TestHistoryExpiry(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	a := newHistoryAdapter(t, r)
	ctx := context.Background()
	if _, err := a.Append(ctx, "idle", []byte("1"), rooms.HistoryOptions{Size: 5, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, k := range a.historyKeys("idle") {
		ttl, err := a.client.PTTL(ctx, k).Result()
		if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
			t.Errorf("key %q: PTTL %v, %v; want about an hour", k, ttl, err)
		}
	}
}
