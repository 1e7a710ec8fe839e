package nats

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
)

// TestQueueFull: with NATS hung and the health check not yet due, large publications fill
// the socket buffers, the writer blocks, the queue fills, and Publish then waits
// PublishTimeout for room and fails with ErrUnavailable (back-pressure, not unbounded
// memory); a ctx that ends first ends the wait.
func TestQueueFull(t *testing.T) {
	n := testutil.StartNATS(t)
	ctx := context.Background()
	opts := fastOptions(n, t)
	opts.PublishQueue, opts.HealthInterval = 4, 10*time.Second
	a, _ := startNode(t, opts)
	n.Pause()
	defer n.Resume()
	data := make([]byte, 64<<10)
	var err error
	var took time.Duration
	queued := 0
	for start := time.Now(); err == nil && time.Since(start) < 8*time.Second; queued++ {
		t0 := time.Now()
		err = a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: data})
		took = time.Since(t0)
	}
	if !errors.Is(err, rooms.ErrUnavailable) || !errors.Is(err, errQueueFull) || took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("after %d queued: %v after %v, want ErrUnavailable (queue full) after ~300ms", queued-1, err, took)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := a.Publish(cctx, rooms.Publication{Rooms: []string{"r"}, Data: data}); !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 250*time.Millisecond {
		t.Fatalf("Publish with a 50ms ctx on a full queue: %v after %v", err, time.Since(t0))
	}
	t.Logf("queue full after %d publications of 64 KiB", queued-1)
}
