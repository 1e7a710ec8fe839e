package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
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
				ctx := context.Background()
				opts := Options{KeyPrefix: "bench", Shards: l.shards, Logger: quiet}
				na, _ := startNode(b, r, opts)
				nb := newCountingNode(b, r, opts)
				must(b, nb.a.Subscribe(ctx, "room"))
				data := make([]byte, 64)
				b.ResetTimer()
				var next atomic.Int64
				var wg sync.WaitGroup
				for range p {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := na.Publish(ctx, rooms.Publication{Rooms: []string{"room"}, Data: data}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				nb.wait(b, int64(b.N))
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
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
			a := newCountingNode(b, r, Options{KeyPrefix: "sub", Shards: l.shards, Logger: quiet}).a
			// A node with 100 busy rooms keeps most shards subscribed.
			for i := range 100 {
				must(b, a.Subscribe(ctx, "busy-"+strconv.Itoa(i)))
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				room := "room-" + strconv.Itoa(i)
				must(b, a.Subscribe(ctx, room))
				must(b, a.Unsubscribe(ctx, room))
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
			nb := newCountingNode(b, r, opts)
			names := make([]string, nRooms)
			for i := range names {
				names[i] = "room-" + strconv.Itoa(i)
				if i%(nRooms/mine) == 0 {
					must(b, nb.a.Subscribe(ctx, names[i]))
				}
			}
			data := make([]byte, 64)
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if err := na.Publish(ctx, rooms.Publication{Rooms: []string{names[i%nRooms]}, Data: data}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			want := int64(0)
			for i := range int64(b.N) {
				if (i%nRooms)%(nRooms/mine) == 0 {
					want++
				}
			}
			nb.wait(b, want)
			b.StopTimer()
			st := nb.a.Stats()
			b.ReportMetric(float64(st.Delivered+st.Skipped)/float64(b.N), "recv/published")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// countingNode is a started adapter whose deliver only counts.
type countingNode struct {
	a *Adapter
	n atomic.Int64
}

func newCountingNode(b testing.TB, r *testutil.Redis, opts Options) *countingNode {
	opts.Addr = r.Addr
	a, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	c := &countingNode{a: a}
	must(b, a.Start(context.Background(), func(rooms.Publication) { c.n.Add(1) }))
	b.Cleanup(func() { _ = a.Close(context.Background()) })
	return c
}

func (c *countingNode) wait(b testing.TB, n int64) {
	deadline := time.Now().Add(60 * time.Second)
	for c.n.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", c.n.Load(), n)
		}
		time.Sleep(time.Millisecond) // the poll interval: deliver only counts
	}
}
