package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/redis"
)

// BenchmarkBroadcastClass measures a broadcast to a room of 50 WebSocket members by class:
// default, and durable with its history kept in memory (BenchmarkBroadcastClassRedis: in a
// real redis-server, Redis Streams). One op is one Emit, delivered to every member before the
// run ends. BENCHMARKS.md ("Delivery classes") reports durable ÷ default.
func BenchmarkBroadcastClass(b *testing.B) {
	benchClasses(b, rooms.NewMemoryHistory(), "memory")
}

// BenchmarkBroadcastClassRedis is BenchmarkBroadcastClass with the history in Redis (the
// redis adapter's History; the broadcast itself has no other node to reach).
func BenchmarkBroadcastClassRedis(b *testing.B) {
	r := testutil.StartRedis(b)
	a, err := redis.New(redis.Options{URL: r.URL(), KeyPrefix: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	benchClasses(b, a, "redis")
}

func benchClasses(b *testing.B, h rooms.History, where string) {
	for _, class := range []sockhop.Class{sockhop.Default, sockhop.Durable} {
		name := class.String()
		if class == sockhop.Durable {
			name += "-" + where
		}
		b.Run(name, func(b *testing.B) {
			const members = 50
			srv, err := sockhop.New(sockhop.Options{History: h, MessageRate: -1, MaxQueueBytes: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			room := fmt.Sprintf("bench-%d", time.Now().UnixNano())
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, room) })
			url := serveAt(b, srv, httptest.NewUnstartedServer(nil))
			ctx := context.Background()
			var got atomic.Int64
			for range members {
				c, err := client.Dial(ctx, url, client.Options{Transports: []string{client.WebSocket}, NoReconnect: true})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				c.On("n", func(context.Context, json.RawMessage) { got.Add(1) })
			}
			payload := map[string]any{"text": "a chat line of about sixty bytes, as a chat room sends"}
			bc := srv.To(room).Class(class)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := bc.Emit(ctx, "n", payload); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N) * members
			deadline := time.Now().Add(time.Minute)
			for got.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			if n := got.Load(); n != want {
				b.Fatalf("%d of %d deliveries", n, want)
			}
		})
	}
}
