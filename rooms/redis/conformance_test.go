package redis

import (
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/adaptertest"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

// TestConformance runs the adapter suite on a real redis-server, for both channel layouts.
func TestConformance(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			r := testutil.StartRedis(t)
			adaptertest.Run(t, adaptertest.Harness{
				NewAdapter: func(t *testing.T) rooms.Adapter {
					a, err := New(Options{Addr: r.Addr, Shards: l.shards, Logger: nodetest.Logger(t),
						PublishTimeout: 300 * time.Millisecond, HealthInterval: 300 * time.Millisecond,
						DialTimeout: 300 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
					if err != nil {
						t.Fatal(err)
					}
					return a
				},
				Stop:   r.Stop,
				Start:  r.Start,
				Freeze: r.Pause,
				Thaw:   r.Resume,
			})
		})
	}
}
