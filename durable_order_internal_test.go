package sockhop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/rooms"
)

// gateRig is an orderGate whose deliveries are recorded as "epoch:offset".
type gateRig struct {
	g    *orderGate
	h    rooms.History
	mu   sync.Mutex
	got  []string
	room string
}

func newGateRig(t *testing.T) *gateRig {
	r := &gateRig{h: rooms.NewMemoryHistory(), room: "r"}
	r.g = newOrderGate(func() rooms.History { return r.h }, func(p rooms.Publication) {
		room, pos, ok := events.PositionOf(p.Data)
		if !ok || room != r.room {
			t.Errorf("delivered %q: no position of room %q", p.Data, r.room)
		}
		r.mu.Lock()
		r.got = append(r.got, fmt.Sprintf("%s:%d", pos.Epoch, pos.Offset))
		r.mu.Unlock()
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.g.wait = 20 * time.Millisecond
	t.Cleanup(r.g.close)
	return r
}

func (r *gateRig) admit(epoch string, offset uint64) {
	msg := events.AppendPosition(nil, events.AppendEvent(nil, "n", []byte(fmt.Sprint(offset)), 0), r.room, epoch, offset)
	r.g.admit(r.room, events.Position{Epoch: epoch, Offset: offset}, rooms.Publication{Rooms: []string{r.room}, Data: msg})
}

// delivered waits until n deliveries were made (bounded) and returns them all.
func (r *gateRig) delivered(t *testing.T, n int) []string {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		r.mu.Lock()
		if len(r.got) >= n {
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestOrderGate: durable broadcasts of a room reach the members in offset order whatever
// order they arrive in; a gap is filled from the history; one older than what was handed
// out is dropped; a new epoch starts over.
func TestOrderGate(t *testing.T) {
	t.Run("InOrderAtOnce", func(t *testing.T) {
		r := newGateRig(t)
		for o := uint64(1); o <= 3; o++ {
			r.admit("e", o)
		}
		r.mu.Lock() // no wait: handed out within admit
		got := slices.Clone(r.got)
		r.mu.Unlock()
		if want := []string{"e:1", "e:2", "e:3"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
	t.Run("Reordered", func(t *testing.T) {
		r := newGateRig(t)
		r.admit("e", 1)
		r.admit("e", 3)
		r.admit("e", 2)
		r.admit("e", 2) // a duplicate: dropped
		if got, want := r.delivered(t, 3), []string{"e:1", "e:2", "e:3"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
	t.Run("GapFromHistory", func(t *testing.T) {
		r := newGateRig(t)
		var epoch string
		for i := range 5 {
			pos, err := r.h.Append(context.Background(), r.room, events.AppendEvent(nil, "n", []byte(fmt.Sprint(i+1)), 0), rooms.HistoryOptions{Size: 10})
			if err != nil {
				t.Fatal(err)
			}
			epoch = pos.Epoch
		}
		r.admit(epoch, 1)
		r.admit(epoch, 4) // 2 and 3 never arrive: read from the history after the wait
		r.admit(epoch, 5)
		want := []string{epoch + ":1", epoch + ":2", epoch + ":3", epoch + ":4", epoch + ":5"}
		if got := r.delivered(t, 5); !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
	t.Run("FirstHeld", func(t *testing.T) {
		r := newGateRig(t)
		r.admit("e", 7) // no state for the room: held, 6 may be on its way
		r.admit("e", 6)
		if got, want := r.delivered(t, 2), []string{"e:6", "e:7"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		r.admit("e", 8)
		if got, want := r.delivered(t, 3), []string{"e:6", "e:7", "e:8"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
	t.Run("FirstOfAll", func(t *testing.T) {
		r := newGateRig(t)
		r.g.wait = time.Hour // offset 1 closes the gap: nothing waits for the timer
		r.admit("e", 2)
		r.admit("e", 1)
		r.mu.Lock()
		got := slices.Clone(r.got)
		r.mu.Unlock()
		if want := []string{"e:1", "e:2"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v at once, want %v", got, want)
		}
	})
	t.Run("NewEpoch", func(t *testing.T) {
		r := newGateRig(t)
		r.admit("a", 1)
		r.admit("b", 5) // the history was lost and began again
		r.admit("b", 6)
		if got, want := r.delivered(t, 3), []string{"a:1", "b:5", "b:6"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
	t.Run("Forget", func(t *testing.T) {
		r := newGateRig(t)
		r.admit("e", 1)
		r.admit("e", 3) // held
		r.g.forget(r.room)
		if got, want := r.delivered(t, 2), []string{"e:1", "e:3"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
	})
}
