package nats

import (
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

// TestQueueFull: with NATS hung and the health check not yet due, large publications fill
// the socket buffers, the writer blocks, the queue fills, and Publish then waits
// PublishTimeout for room and fails with ErrUnavailable (back-pressure, not unbounded
// memory); a ctx that ends first ends the wait.
func TestQueueFull(t *testing.T) {
	n := testutil.StartNATS(t)
	opts := fastOptions(n, t)
	opts.PublishQueue, opts.HealthInterval = 4, 10*time.Second
	a, _ := startNode(t, opts)
	n.Pause()
	defer n.Resume()
	queued := nodetest.FillQueue(t, a, rooms.Publication{Rooms: []string{"r"}, Data: make([]byte, 64<<10)}, 8*time.Second)
	t.Logf("queue full after %d publications of 64 KiB", queued)
}
