package client

import "testing"

// TestTakePosition: the client rules of PROTOCOL.md §9: a later offset is taken and moves
// the position; one at or below it is dropped as a duplicate; another epoch starts over.
func TestTakePosition(t *testing.T) {
	at := func(epoch string, offset uint64) Position { return Position{Epoch: epoch, Offset: offset} }
	c := New("http://x", Options{Positions: map[string]Position{"r": at("a", 5)}})
	steps := []struct {
		pos  Position
		take bool
		at   uint64 // the position's offset after it
	}{
		{at("a", 5), false, 5}, // the saved position itself
		{at("a", 6), true, 6},
		{at("a", 6), false, 6},
		{at("a", 9), true, 9},
		{at("a", 8), false, 9}, // below the position
		{at("b", 1), true, 1},  // a new epoch
		{at("b", 1), false, 1},
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
