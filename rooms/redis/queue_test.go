package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
)

// TestQueueFull: with Redis hung and the health check not yet due, Publish queues until
// the queue is full, then waits PublishTimeout for room and fails with ErrUnavailable
// (back-pressure, not unbounded memory); a ctx that ends first ends the wait.
func TestQueueFull(t *testing.T) {
	r := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := startNode(t, r, Options{PublishQueue: 4, PublishTimeout: 300 * time.Millisecond, HealthInterval: 5 * time.Second})
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("up")}))
	r.Pause()
	defer r.Resume()
	var err error
	var took time.Duration
	queued := 0
	for start := time.Now(); err == nil && time.Since(start) < 5*time.Second; queued++ {
		t0 := time.Now()
		err = a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("x")})
		took = time.Since(t0)
	}
	if !errors.Is(err, rooms.ErrUnavailable) || !errors.Is(err, errQueueFull) || took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("after %d queued: %v after %v, want ErrUnavailable (queue full) after ~300ms", queued-1, err, took)
	}
	if queued-1 > 4+maxBatch {
		t.Errorf("%d publications accepted with a queue of 4", queued-1)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := a.Publish(cctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("x")}); !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 250*time.Millisecond {
		t.Fatalf("Publish with a 50ms ctx on a full queue: %v after %v", err, time.Since(t0))
	}
	if st := a.Stats(); st.PublishErrors < 1 {
		t.Errorf("stats: %+v", st)
	}
}
