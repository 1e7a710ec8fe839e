package nats

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

// BenchmarkPublishDeliver measures publish -> deliver throughput between two nodes on one
// real nats-server: node A publishes b.N broadcasts (64-byte payload) to one room from P
// goroutines; the clock stops when node B has delivered all of them.
func BenchmarkPublishDeliver(b *testing.B) {
	n := testutil.StartNATS(b)
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("publishers=%d", p), func(b *testing.B) {
			ctx := context.Background()
			opts := Options{URL: n.URL(), Logger: slog.New(slog.DiscardHandler)}
			na, _ := startNode(b, opts)
			nb := newCountingNode(b, opts)
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

// BenchmarkSubscribe measures joining a fresh room and leaving it again (Subscribe +
// Unsubscribe): a SUB, a round trip to confirm it, an UNSUB.
func BenchmarkSubscribe(b *testing.B) {
	n := testutil.StartNATS(b)
	ctx := context.Background()
	a := newCountingNode(b, Options{URL: n.URL(), Logger: slog.New(slog.DiscardHandler)}).a
	for i := 0; b.Loop(); i++ {
		room := "room-" + strconv.Itoa(i)
		must(b, a.Subscribe(ctx, room))
		must(b, a.Unsubscribe(ctx, room))
	}
}

// countingNode is a started adapter whose deliver only counts.
type countingNode struct {
	a *Adapter
	n atomic.Int64
}

func newCountingNode(b testing.TB, opts Options) *countingNode {
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
