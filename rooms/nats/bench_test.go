package nats

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

// BenchmarkPublishDeliver measures publish -> deliver throughput between two nodes on one
// real nats-server: node A publishes b.N broadcasts (64-byte payload) to one room from P
// goroutines; the clock stops when node B has delivered all of them.
func BenchmarkPublishDeliver(b *testing.B) {
	n := testutil.StartNATS(b)
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("publishers=%d", p), func(b *testing.B) {
			opts := Options{URL: n.URL(), Logger: slog.New(slog.DiscardHandler)}
			na, _ := startNode(b, opts)
			nb, count := newCountingNode(b, opts)
			nodetest.BenchPublishDeliver(b, na, nb, count, p)
		})
	}
}

// BenchmarkDurable compares, in one run on one real nats-server with JetStream, a default
// broadcast (Publish, NATS core) with a durable one (Append to the room's history in
// JetStream: a read of the room's latest message and a publication acknowledged by the
// stream, then Publish), publish -> deliver between two nodes, 64-byte payloads: the ratio
// of their ns/op is the durable class's cost (BENCHMARKS.md).
func BenchmarkDurable(b *testing.B) {
	n := testutil.StartNATSJetStream(b)
	for _, p := range []int{1, 16} {
		for _, class := range []string{"default", "durable"} {
			b.Run(fmt.Sprintf("class=%s/publishers=%d", class, p), func(b *testing.B) {
				opts := Options{URL: n.URL(), Logger: slog.New(slog.DiscardHandler)}
				na, _ := startNode(b, opts)
				nb, count := newCountingNode(b, opts)
				if class == "default" {
					nodetest.BenchPublishDeliver(b, na, nb, count, p)
				} else {
					nodetest.BenchDurableDeliver(b, na, nb, na, count, p)
				}
			})
		}
	}
}

// BenchmarkSubscribe measures joining a fresh room and leaving it again (Subscribe +
// Unsubscribe): a SUB, a round trip to confirm it, an UNSUB.
func BenchmarkSubscribe(b *testing.B) {
	n := testutil.StartNATS(b)
	ctx := context.Background()
	a, _ := newCountingNode(b, Options{URL: n.URL(), Logger: slog.New(slog.DiscardHandler)})
	for i := 0; b.Loop(); i++ {
		room := "room-" + strconv.Itoa(i)
		nodetest.Must(b, a.Subscribe(ctx, room))
		nodetest.Must(b, a.Unsubscribe(ctx, room))
	}
}

// newCountingNode makes and starts an adapter whose deliver only counts; it is closed when
// b ends.
func newCountingNode(b testing.TB, opts Options) (*Adapter, *nodetest.Counter) {
	a, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	c := new(nodetest.Counter)
	nodetest.Start(b, a, c.Deliver)
	return a, c
}
