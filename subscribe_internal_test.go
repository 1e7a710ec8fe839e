package sockhop

import (
	"testing"

	"github.com/sockhop/sockhop/rooms"
)

// TestFitQueue: a catch-up takes the newest entries that fit its share of the queue.
func TestFitQueue(t *testing.T) {
	entries := make([]rooms.Entry, 10)
	for i := range entries {
		entries[i] = rooms.Entry{Offset: uint64(i + 1), Data: make([]byte, 36)} // 100 bytes each with the overhead
	}
	for budget, want := range map[int]int{0: 0, 99: 0, 100: 1, 550: 5, 1000: 10, 1 << 20: 10} {
		if got := fitQueue(entries, budget); got != want {
			t.Errorf("fitQueue(10 × 100 bytes, %d) = %d, want %d", budget, got, want)
		}
	}
}
