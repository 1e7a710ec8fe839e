// Package historytest checks a [rooms.History] against its contract: offsets from 1
// without gaps under concurrent appends, catch-up after a position, and exactly when a
// catch-up is complete (trimmed by size or age, another epoch, a limit).
package historytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

// Run runs the conformance tests on histories made by newHistory; each test uses rooms of
// its own (names with t.Name() in them), so one backend may serve them all.
func Run(t *testing.T, newHistory func(t *testing.T) rooms.History) {
	ctx := context.Background()
	opts := rooms.HistoryOptions{Size: 100, TTL: time.Minute}
	room := func(t *testing.T) string { return "room " + t.Name() + fmt.Sprint(time.Now().UnixNano()) }

	t.Run("OffsetsAndCatchUp", func(t *testing.T) {
		h, r := newHistory(t), room(t)
		empty, latest, complete, err := h.Since(ctx, r, rooms.Position{}, 0)
		if err != nil || len(empty) != 0 || latest != (rooms.Position{}) || !complete {
			t.Fatalf("Since on an empty history = %v, %v, %v, %v; want nothing, zero, complete", empty, latest, complete, err)
		}
		var pos []rooms.Position
		for i := range 5 {
			p, err := h.Append(ctx, r, []byte(fmt.Sprintf(`{"i":%d}`, i)), opts)
			if err != nil {
				t.Fatal(err)
			}
			pos = append(pos, p)
		}
		for i, p := range pos {
			if p.Offset != uint64(i+1) || p.Epoch == "" || p.Epoch != pos[0].Epoch {
				t.Fatalf("positions %v: want offsets 1…5 in one non-empty epoch", pos)
			}
		}
		es, latest, complete, err := h.Since(ctx, r, pos[1], 0)
		if err != nil || !complete || latest != pos[4] || len(es) != 3 {
			t.Fatalf("Since(2) = %d entries, %v, %v, %v; want 3 entries, %v, complete", len(es), latest, complete, err, pos[4])
		}
		for i, e := range es {
			if want := fmt.Sprintf(`{"i":%d}`, i+2); e.Offset != uint64(i+3) || string(e.Data) != want {
				t.Errorf("entry %d = %d %s, want %d %s", i, e.Offset, e.Data, i+3, want)
			}
		}
		all, _, complete, err := h.Since(ctx, r, rooms.Position{}, 0)
		if err != nil || !complete || len(all) != 5 {
			t.Errorf("Since(zero) = %d entries, complete %v, %v; want all 5, complete", len(all), complete, err)
		}
		none, _, complete, err := h.Since(ctx, r, pos[4], 0)
		if err != nil || !complete || len(none) != 0 {
			t.Errorf("Since(latest) = %d entries, complete %v, %v; want none, complete", len(none), complete, err)
		}
		last2, _, complete, err := h.Since(ctx, r, pos[0], 2)
		if err != nil || complete || len(last2) != 2 || last2[0].Offset != 4 || last2[1].Offset != 5 {
			t.Errorf("Since(1, limit 2) = %v, complete %v, %v; want offsets 4 and 5, incomplete", last2, complete, err)
		}
	})

	t.Run("TrimmedBySize", func(t *testing.T) {
		h, r := newHistory(t), room(t)
		small := rooms.HistoryOptions{Size: 3, TTL: time.Minute}
		var first rooms.Position
		for i := range 10 {
			p, err := h.Append(ctx, r, []byte(`1`), small)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = p
			}
		}
		es, latest, complete, err := h.Since(ctx, r, first, 0)
		if err != nil || complete {
			t.Fatalf("Since(1) after 10 appends kept to 3 = %v entries, complete %v, %v; want incomplete", len(es), complete, err)
		}
		if latest.Offset != 10 {
			t.Errorf("latest = %v, want offset 10", latest)
		}
		for _, e := range es {
			if e.Offset <= 7 {
				t.Errorf("entry %d kept past the size bound of 3", e.Offset)
			}
		}
		es, _, complete, err = h.Since(ctx, r, rooms.Position{Epoch: first.Epoch, Offset: 7}, 0)
		if err != nil || !complete || len(es) != 3 {
			t.Errorf("Since(7) = %d entries, complete %v, %v; want the 3 kept, complete", len(es), complete, err)
		}
	})

	t.Run("OtherEpoch", func(t *testing.T) {
		h, r := newHistory(t), room(t)
		p, err := h.Append(ctx, r, []byte(`1`), opts)
		if err != nil {
			t.Fatal(err)
		}
		es, latest, complete, err := h.Since(ctx, r, rooms.Position{Epoch: p.Epoch + "x", Offset: 0}, 0)
		if err != nil || complete || latest != p {
			t.Errorf("Since(another epoch) = %d entries, %v, complete %v, %v; want incomplete, latest %v", len(es), latest, complete, err, p)
		}
		_, _, complete, err = h.Since(ctx, r, rooms.Position{Epoch: p.Epoch, Offset: 5}, 0)
		if err != nil || complete {
			t.Errorf("Since(an offset past the latest) complete %v, %v; want incomplete", complete, err)
		}
	})

	t.Run("TrimmedByAge", func(t *testing.T) {
		h, r := newHistory(t), room(t)
		short := rooms.HistoryOptions{Size: 100, TTL: 500 * time.Millisecond}
		p, err := h.Append(ctx, r, []byte(`1`), short)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // past the TTL: the entry (or the whole history) is gone
		if _, err := h.Append(ctx, r, []byte(`2`), short); err != nil {
			t.Fatal(err)
		}
		es, _, complete, err := h.Since(ctx, r, rooms.Position{Epoch: p.Epoch}, 0)
		if err != nil || complete {
			t.Errorf("Since(zero of the first epoch) after the first entry aged out = %d entries, complete %v, %v; want incomplete", len(es), complete, err)
		}
	})

	t.Run("ConcurrentAppends", func(t *testing.T) {
		h, r := newHistory(t), room(t)
		const writers, each = 8, 25
		var mu sync.Mutex
		seen := map[uint64]bool{}
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range each {
					p, err := h.Append(ctx, r, []byte(`1`), rooms.HistoryOptions{Size: writers * each, TTL: time.Minute})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[p.Offset] {
						t.Errorf("offset %d given twice", p.Offset)
					}
					seen[p.Offset] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for o := uint64(1); o <= writers*each; o++ {
			if !seen[o] {
				t.Fatalf("offset %d never given: offsets must have no gaps", o)
			}
		}
		es, _, complete, err := h.Since(ctx, r, rooms.Position{}, 0)
		if err != nil || !complete || len(es) != writers*each {
			t.Errorf("Since(zero) = %d entries, complete %v, %v; want %d, complete", len(es), complete, err, writers*each)
		}
	})
}

// RunClaimer checks a [rooms.Claimer]: of many concurrent claims of one key exactly one
// is first; a claim after the ttl is first again.
func RunClaimer(t *testing.T, c rooms.Claimer) {
	ctx := context.Background()
	key := "key " + t.Name() + fmt.Sprint(time.Now().UnixNano())
	var firsts sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for range 16 {
		firsts.Go(func() {
			first, err := c.Claim(ctx, key, 500*time.Millisecond)
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	firsts.Wait()
	if n != 1 {
		t.Fatalf("%d of 16 claims of one key were first, want 1", n)
	}
	time.Sleep(time.Second)
	if first, err := c.Claim(ctx, key, time.Second); err != nil || !first {
		t.Errorf("a claim after the ttl: first %v, %v; want first", first, err)
	}
}

// RunNodes checks two Histories on one backend, as two nodes use it: appends to one room
// from both at once get unique offsets from 1 without gaps in one epoch, and a catch-up
// read through either node returns all of them in order.
func RunNodes(t *testing.T, a, b rooms.History) {
	ctx := context.Background()
	r := "room " + t.Name() + fmt.Sprint(time.Now().UnixNano())
	const writers, each = 4, 25 // writers per node
	opts := rooms.HistoryOptions{Size: 2 * writers * each, TTL: time.Minute}
	var mu sync.Mutex
	seen := map[uint64]string{}
	epochs := map[string]bool{}
	var wg sync.WaitGroup
	for node, h := range []rooms.History{a, b} {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					data := fmt.Sprintf("%d/%d/%d", node, w, i)
					p, err := h.Append(ctx, r, []byte(data), opts)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, dup := seen[p.Offset]; dup {
						t.Errorf("offset %d given to %s and %s", p.Offset, prev, data)
					}
					seen[p.Offset] = data
					epochs[p.Epoch] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = 2 * writers * each
	for o := uint64(1); o <= total; o++ {
		if _, ok := seen[o]; !ok {
			t.Fatalf("offset %d never given: offsets must have no gaps", o)
		}
	}
	if len(epochs) != 1 {
		t.Fatalf("appends from two nodes saw epochs %v, want one", epochs)
	}
	for node, h := range []rooms.History{a, b} {
		es, latest, complete, err := h.Since(ctx, r, rooms.Position{}, 0)
		if err != nil || !complete || len(es) != total || latest.Offset != total {
			t.Fatalf("node %d: Since(zero) = %d entries, latest %v, complete %v, %v; want %d, complete", node, len(es), latest, complete, err, total)
		}
		for i, e := range es {
			if e.Offset != uint64(i+1) || string(e.Data) != seen[e.Offset] {
				t.Fatalf("node %d: entry %d = %d %q, want %d %q", node, i, e.Offset, e.Data, i+1, seen[uint64(i+1)])
			}
		}
	}
}

// RunLost checks a History whose backend loses its data when restart runs (a broker
// restarted without persistence): a catch-up from a position taken before is incomplete,
// and appends after it start again at offset 1 in another epoch. restart must return once
// the backend answers again.
func RunLost(t *testing.T, h rooms.History, restart func()) {
	ctx := context.Background()
	r := "room " + t.Name() + fmt.Sprint(time.Now().UnixNano())
	opts := rooms.HistoryOptions{Size: 10, TTL: time.Minute}
	var before rooms.Position
	for range 3 {
		p, err := h.Append(ctx, r, []byte(`1`), opts)
		if err != nil {
			t.Fatal(err)
		}
		before = p
	}
	restart()
	var err error
	var es []rooms.Entry
	var latest rooms.Position
	var complete bool
	// The backend may refuse for a moment after its restart; bounded retries.
	for range 50 {
		if es, latest, complete, err = h.Since(ctx, r, before, 0); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || complete || len(es) != 0 {
		t.Fatalf("Since(%v) after the backend lost its data = %d entries, latest %v, complete %v, %v; want none, incomplete", before, len(es), latest, complete, err)
	}
	p, err := h.Append(ctx, r, []byte(`2`), opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset != 1 || p.Epoch == before.Epoch || p.Epoch == "" {
		t.Fatalf("first Append after the loss = %v; want offset 1 in another epoch than %v", p, before)
	}
	if _, _, complete, err := h.Since(ctx, r, before, 0); err != nil || complete {
		t.Errorf("Since(the old epoch) after a new append: complete %v, %v; want incomplete", complete, err)
	}
}
