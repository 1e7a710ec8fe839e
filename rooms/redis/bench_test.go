package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

var quiet = slog.New(slog.DiscardHandler)

// BenchmarkPublishDeliver measures publish -> deliver throughput between two nodes on one
// real Redis: node A publishes b.N broadcasts (64-byte payload) to one room from P
// goroutines; the clock stops when node B has delivered all of them.
func BenchmarkPublishDeliver(b *testing.B) {
	r := testutil.StartRedis(b)
	for _, l := range layouts {
		for _, p := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/publishers=%d", l.name, p), func(b *testing.B) {
				opts := Options{KeyPrefix: "bench", Shards: l.shards, Logger: quiet}
				na, _ := startNode(b, r, opts)
				nb, count := newCountingNode(b, r, opts)
				nodetest.BenchPublishDeliver(b, na, nb, count, p)
			})
		}
	}
}

// BenchmarkDurable compares, in one run on one real Redis, a default broadcast (Publish)
// with a durable one (Append to the room's history, a Lua script on a Redis Stream, then
// Publish), publish -> deliver between two nodes, 64-byte payloads: the ratio of their
// ns/op is the durable class's cost (BENCHMARKS.md).
func BenchmarkDurable(b *testing.B) {
	r := testutil.StartRedis(b)
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("class=default/publishers=%d", p), func(b *testing.B) {
			opts := Options{KeyPrefix: "durable", Logger: quiet}
			na, _ := startNode(b, r, opts)
			nb, count := newCountingNode(b, r, opts)
			nodetest.BenchPublishDeliver(b, na, nb, count, p)
		})
		b.Run(fmt.Sprintf("class=durable/publishers=%d", p), func(b *testing.B) {
			opts := Options{KeyPrefix: "durable", Logger: quiet}
			na, _ := startNode(b, r, opts)
			nb, count := newCountingNode(b, r, opts)
			nodetest.BenchDurableDeliver(b, na, nb, na, count, p)
		})
	}
}

// BenchmarkSubscribe measures joining a fresh room and leaving it again (Subscribe +
// Unsubscribe), which a node does whenever a room gets its first or loses its last local
// member: with a channel per room every Subscribe is a round trip to Redis; with shards it
// is one only when the shard was not subscribed yet.
func BenchmarkSubscribe(b *testing.B) {
	r := testutil.StartRedis(b)
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			ctx := context.Background()
			a, _ := newCountingNode(b, r, Options{KeyPrefix: "sub", Shards: l.shards, Logger: quiet})
			// A node with 100 busy rooms keeps most shards subscribed.
			for i := range 100 {
				nodetest.Must(b, a.Subscribe(ctx, "busy-"+strconv.Itoa(i)))
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				room := "room-" + strconv.Itoa(i)
				nodetest.Must(b, a.Subscribe(ctx, room))
				nodetest.Must(b, a.Unsubscribe(ctx, room))
			}
		})
	}
}

// BenchmarkManyRooms: node A publishes round-robin to 1,000 rooms; node B has members in
// 10 of them. The clock runs until B has delivered its share. It shows what a sharded
// layout costs a node: messages received only to be dropped.
func BenchmarkManyRooms(b *testing.B) {
	r := testutil.StartRedis(b)
	const nRooms, mine = 1000, 10
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			ctx := context.Background()
			opts := Options{KeyPrefix: "many", Shards: l.shards, Logger: quiet}
			na, _ := startNode(b, r, opts)
			nb, count := newCountingNode(b, r, opts)
			names := make([]string, nRooms)
			for i := range names {
				names[i] = "room-" + strconv.Itoa(i)
				if i%(nRooms/mine) == 0 {
					nodetest.Must(b, nb.Subscribe(ctx, names[i]))
				}
			}
			b.ResetTimer()
			nodetest.PublishN(b, na, 16, func(i int64) string { return names[i%nRooms] })
			want := int64(0)
			for i := range int64(b.N) {
				if (i%nRooms)%(nRooms/mine) == 0 {
					want++
				}
			}
			count.Wait(b, want)
			b.StopTimer()
			st := nb.Stats()
			b.ReportMetric(float64(st.Delivered+st.Skipped)/float64(b.N), "recv/published")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// newCountingNode makes and starts an adapter on r whose deliver only counts; it is
// closed when b ends.
func newCountingNode(b testing.TB, r *testutil.Redis, opts Options) (*Adapter, *nodetest.Counter) {
	opts.Addr = r.Addr
	a, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	c := new(nodetest.Counter)
	nodetest.Start(b, a, c.Deliver)
	return a, c
}
