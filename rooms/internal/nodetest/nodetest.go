// Package nodetest holds the test helpers that the tests of the multi-node adapters
// (rooms/redis, rooms/nats) and the conformance suite (rooms/adaptertest) share: a sink
// that collects what an adapter delivers, a started node closed when the test ends, a
// logger into the test's log, polling, and the benchmarks' publish loop.
package nodetest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/pubq"
)

// Sink collects what an adapter delivers (copies: the contract lets the adapter reuse
// what it passes after deliver) and notes whether deliver was ever called from two
// goroutines at once. Deliver never blocks.
type Sink struct {
	mu      sync.Mutex
	got     []rooms.Publication // guarded by mu
	ch      chan struct{}       // signalled after each delivery
	inside  atomic.Int32
	overlap atomic.Bool
}

// NewSink returns an empty Sink.
func NewSink() *Sink { return &Sink{ch: make(chan struct{}, 1)} }

// Deliver is the deliver function to pass to [rooms.Adapter.Start].
func (s *Sink) Deliver(p rooms.Publication) {
	if s.inside.Add(1) != 1 {
		s.overlap.Store(true)
	}
	c := rooms.Publication{Rooms: slices.Clone(p.Rooms), Except: slices.Clone(p.Except), Data: slices.Clone(p.Data)}
	s.mu.Lock()
	s.got = append(s.got, c)
	s.mu.Unlock()
	s.inside.Add(-1)
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

// Overlapped reports whether Deliver was ever called concurrently.
func (s *Sink) Overlapped() bool { return s.overlap.Load() }

// Snapshot returns what was delivered so far.
func (s *Sink) Snapshot() []rooms.Publication {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// Len returns how many broadcasts were delivered so far.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// WaitFor waits until cond holds for what was delivered and returns that, failing t after
// timeout.
func (s *Sink) WaitFor(t testing.TB, timeout time.Duration, cond func([]rooms.Publication) bool) []rooms.Publication {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		got := s.Snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-s.ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v with %d broadcasts delivered", timeout, len(got))
		}
	}
}

// WaitData waits until the last delivered broadcast's Data is data (a fence: what the
// publisher sent before it has arrived, or never will) and returns what came before it,
// failing t after timeout.
func (s *Sink) WaitData(t testing.TB, timeout time.Duration, data string) []rooms.Publication {
	t.Helper()
	got := s.WaitFor(t, timeout, func(g []rooms.Publication) bool { return len(g) > 0 && string(g[len(g)-1].Data) == data })
	return got[:len(got)-1]
}

// Start starts a with deliver, failing t if it cannot, and closes it when t ends (failing
// t if that takes over 10s or fails other than with [rooms.ErrClosed]).
func Start(t testing.TB, a rooms.Adapter, deliver func(rooms.Publication)) {
	t.Helper()
	if err := a.Start(context.Background(), deliver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil && !errors.Is(err, rooms.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
}

// StartNode fails t when err (from making a) is not nil, else starts a with a new Sink as
// [Start] does and returns both.
func StartNode[A rooms.Adapter](t testing.TB, a A, err error) (A, *Sink) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSink()
	Start(t, a, s.Deliver)
	return a, s
}

// Must fails t at once when err is not nil.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Eventually polls cond until it holds or timeout passes, for what an adapter reports
// only in its Stats; it reports whether cond held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // the poll interval
	}
	return true
}

// Logger returns a logger that writes Info and above to t's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Counter is a deliver function for benchmarks: it only counts.
type Counter struct{ n atomic.Int64 }

// Deliver counts one delivery.
func (c *Counter) Deliver(rooms.Publication) { c.n.Add(1) }

// Wait waits until n broadcasts were delivered, failing b after 60s.
func (c *Counter) Wait(b testing.TB, n int64) {
	deadline := time.Now().Add(60 * time.Second)
	for c.n.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", c.n.Load(), n)
		}
		time.Sleep(time.Millisecond) // the poll interval: deliver only counts
	}
}

// PublishN publishes b.N broadcasts with a 64-byte payload on a from publishers
// goroutines; broadcast i (0, 1, ...) goes to room(i). It returns when all are published
// (or one failed, failing b).
func PublishN(b *testing.B, a rooms.Adapter, publishers int, room func(i int64) string) {
	ctx := context.Background()
	data := make([]byte, 64)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := a.Publish(ctx, rooms.Publication{Rooms: []string{room(i)}, Data: data}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchPublishDeliver is the body of a publish -> deliver benchmark between two nodes:
// sub subscribes to "room", the clock restarts, pub publishes b.N broadcasts (64-byte
// payload) to it from publishers goroutines, and the clock stops when count (sub's deliver)
// has seen all of them. It reports msgs/s.
func BenchPublishDeliver(b *testing.B, pub, sub rooms.Adapter, count *Counter, publishers int) {
	Must(b, sub.Subscribe(context.Background(), "room"))
	b.ResetTimer()
	PublishN(b, pub, publishers, func(int64) string { return "room" })
	count.Wait(b, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// FillQueue publishes p on a, whose backend hangs, until a Publish fails (for at most
// within) and returns how many it queued. It fails t unless that Publish failed with an
// error wrapping [rooms.ErrUnavailable] and [pubq.ErrFull] after waiting about a
// PublishTimeout of 300ms, and unless a further Publish with a 50ms ctx then fails with
// the ctx's error within 250ms: back-pressure, not unbounded memory.
func FillQueue(t testing.TB, a rooms.Adapter, p rooms.Publication, within time.Duration) int {
	t.Helper()
	ctx := context.Background()
	var err error
	var took time.Duration
	queued := 0
	for start := time.Now(); err == nil && time.Since(start) < within; queued++ {
		t0 := time.Now()
		err = a.Publish(ctx, p)
		took = time.Since(t0)
	}
	if !errors.Is(err, rooms.ErrUnavailable) || !errors.Is(err, pubq.ErrFull) || took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("after %d queued: %v after %v, want ErrUnavailable (queue full) after ~300ms", queued-1, err, took)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := a.Publish(cctx, p); !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 250*time.Millisecond {
		t.Fatalf("Publish with a 50ms ctx on a full queue: %v after %v", err, time.Since(t0))
	}
	return queued - 1
}

// BenchDurableDeliver is [BenchPublishDeliver] for durable broadcasts: each of the b.N
// broadcasts is first appended to h (room "room", 100 kept for 10 minutes, the server's
// defaults), then published, as a durable Emit does. The ratio of its ns/op to
// BenchPublishDeliver's in the same run is the cost of the durable class.
func BenchDurableDeliver(b *testing.B, pub, sub rooms.Adapter, h rooms.History, count *Counter, publishers int) {
	ctx := context.Background()
	Must(b, sub.Subscribe(ctx, "room"))
	opts := rooms.HistoryOptions{Size: 100, TTL: 10 * time.Minute}
	data := make([]byte, 64)
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := h.Append(ctx, "room", data, opts); err != nil {
					b.Error(err)
					return
				}
				if err := pub.Publish(ctx, rooms.Publication{Rooms: []string{"room"}, Data: data}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	count.Wait(b, int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
