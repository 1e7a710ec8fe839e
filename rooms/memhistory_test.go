package rooms_test

import (
	"testing"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/historytest"
)

func TestMemoryHistory(t *testing.T) {
	historytest.Run(t, func(*testing.T) rooms.History { return rooms.NewMemoryHistory() })
}

func TestMemoryClaimer(t *testing.T) { historytest.RunClaimer(t, rooms.NewMemoryClaimer()) }
