package rooms_test

import (
	"testing"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/adaptertest"
)

// TestMemoryBusConformance runs the adapter suite on a MemoryBus; SetDown plays the
// backend's outage. A bus cannot hang, so the hang test is skipped.
func TestMemoryBusConformance(t *testing.T) {
	bus := rooms.NewMemoryBus()
	adaptertest.Run(t, adaptertest.Harness{
		NewAdapter: func(t *testing.T) rooms.Adapter { return bus.Adapter() },
		Stop:       func() { bus.SetDown(true) },
		Start:      func() { bus.SetDown(false) },
	})
}
