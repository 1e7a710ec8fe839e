package redis

import (
	"context"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

// TestQueueFull: with Redis hung and the health check not yet due, Publish queues until
// the queue is full, then waits PublishTimeout for room and fails with ErrUnavailable
// (back-pressure, not unbounded memory); a ctx that ends first ends the wait.
func TestQueueFull(t *testing.T) {
	r := testutil.StartRedis(t)
	a, _ := startNode(t, r, Options{PublishQueue: 4, PublishTimeout: 300 * time.Millisecond, HealthInterval: 5 * time.Second})
	nodetest.Must(t, a.Publish(context.Background(), rooms.Publication{Rooms: []string{"r"}, Data: []byte("up")}))
	r.Pause()
	defer r.Resume()
	queued := nodetest.FillQueue(t, a, rooms.Publication{Rooms: []string{"r"}, Data: []byte("x")}, 5*time.Second)
	if queued > 4+maxBatch {
		t.Errorf("%d publications accepted with a queue of 4", queued)
	}
	if st := a.Stats(); st.PublishErrors < 1 {
		t.Errorf("stats: %+v", st)
	}
}
