package client

import "testing"

// TestTakePosition: the client rules of PROTOCOL.md §9: a later offset is taken and moves
// the position; one taken already is dropped; a recent one not taken yet (out of order)
// is taken without moving the position back; one too far below is dropped; another epoch
// starts over.
func TestTakePosition(t *testing.T) {
	c := New("http://x", Options{Positions: map[string]Position{"r": {Epoch: "a", Offset: 5}}})
	steps := []struct {
		pos  Position
		take bool
		at   uint64 // the position's offset after it
	}{
		{Position{Epoch: "a", Offset: 5}, false, 5}, // the saved position itself
		{Position{Epoch: "a", Offset: 6}, true, 6},  // next
		{Position{Epoch: "a", Offset: 6}, false, 6}, // twice
		{Position{Epoch: "a", Offset: 9}, true, 9},  // 7 and 8 come later
		{Position{Epoch: "a", Offset: 8}, true, 9},  // late, not taken yet
		{Position{Epoch: "a", Offset: 8}, false, 9}, // twice
		{Position{Epoch: "a", Offset: 7}, true, 9},  // late
		{Position{Epoch: "a", Offset: 400}, true, 400},
		{Position{Epoch: "a", Offset: 100}, false, 400}, // too far below to tell
		{Position{Epoch: "a", Offset: 399}, true, 400},
		{Position{Epoch: "b", Offset: 1}, true, 1}, // a new epoch
		{Position{Epoch: "b", Offset: 1}, false, 1},
		{Position{Epoch: "b", Offset: 3}, true, 3},
		{Position{Epoch: "b", Offset: 2}, true, 3}, // nothing of epoch a counts
	}
	for i, s := range steps {
		if got := c.takePosition("r", s.pos); got != s.take {
			t.Fatalf("step %d, %+v: took %v, want %v", i, s.pos, got, s.take)
		}
		if p := c.Positions()["r"]; p.Offset != s.at || p.Epoch != s.pos.Epoch {
			t.Fatalf("step %d, %+v: position %+v, want offset %d", i, s.pos, p, s.at)
		}
	}
}
