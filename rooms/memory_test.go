package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestMemoryAdapter(t *testing.T) {
	ctx := context.Background()
	a := NewMemory()
	if err := a.Start(ctx, func(Publication) { t.Error("memory adapter delivered something") }); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx, func(Publication) {}); err == nil {
		t.Error("second Start succeeded")
	}
	for _, err := range []error{
		a.Subscribe(ctx, "r"),
		a.Publish(ctx, Publication{Rooms: []string{"r"}, Data: []byte("x")}),
		a.Unsubscribe(ctx, "r"),
		a.Close(ctx),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Publish(ctx, Publication{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}

// collector records what an adapter delivers.
type collector struct {
	mu  sync.Mutex
	got []Publication
	ch  chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) deliver(b Publication) {
	c.mu.Lock()
	c.got = append(c.got, b)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *collector) waitFor(t *testing.T, n int) []Publication {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got := slices.Clone(c.got)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("got %d broadcasts, want %d", len(got), n)
		}
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func TestMemoryBus(t *testing.T) {
	ctx := context.Background()
	bus := NewMemoryBus()
	a, b, c := bus.Adapter(), bus.Adapter(), bus.Adapter()
	ca, cb, cc := newCollector(), newCollector(), newCollector()
	for _, p := range []struct {
		a Adapter
		c *collector
	}{{a, ca}, {b, cb}, {c, cc}} {
		if err := p.a.Start(ctx, p.c.deliver); err != nil {
			t.Fatal(err)
		}
		defer p.a.Close(ctx)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Subscribe(ctx, "r"))
	must(b.Subscribe(ctx, "r"))
	must(c.Subscribe(ctx, "s"))

	const n = 1000
	for i := range n {
		data := []byte(fmt.Sprint(i))
		must(a.Publish(ctx, Publication{Rooms: []string{"r"}, Except: []string{"x"}, Data: data}))
		data[0] = '!' // the bus keeps its own copy
	}
	must(a.Publish(ctx, Publication{Rooms: []string{"r", "s"}, Data: []byte("multi")}))

	got := cb.waitFor(t, n+1)
	for i := range n {
		if string(got[i].Data) != fmt.Sprint(i) || !slices.Equal(got[i].Except, []string{"x"}) {
			t.Fatalf("b got %d: %q except %q, want %d", i, got[i].Data, got[i].Except, i)
		}
	}
	if string(got[n].Data) != "multi" || len(got) != n+1 {
		t.Fatalf("b got %d broadcasts, last %q", len(got), got[len(got)-1].Data)
	}
	if gc := cc.waitFor(t, 1); len(gc) != 1 || string(gc[0].Data) != "multi" || !slices.Equal(gc[0].Rooms, []string{"r", "s"}) {
		t.Fatalf("c got %v", gc)
	}
	if ca.count() != 0 {
		t.Fatalf("publisher got %d of its own broadcasts", ca.count())
	}

	// Counted subscriptions: two Subscribes need two Unsubscribes.
	must(c.Subscribe(ctx, "s"))
	must(c.Unsubscribe(ctx, "s"))
	must(a.Publish(ctx, Publication{Rooms: []string{"s"}, Data: []byte("still")}))
	cc.waitFor(t, 2)
	must(c.Unsubscribe(ctx, "s"))
	must(a.Publish(ctx, Publication{Rooms: []string{"s"}, Data: []byte("gone")}))
	must(a.Publish(ctx, Publication{Rooms: []string{"r"}, Data: []byte("fence")}))
	cb.waitFor(t, n+2)
	if cc.count() != 2 {
		t.Fatalf("c got %d broadcasts after unsubscribing, want 2", cc.count())
	}

	// Outage.
	bus.SetDown(true)
	if err := a.Publish(ctx, Publication{Rooms: []string{"r"}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish while down: %v, want ErrUnavailable", err)
	}
	if err := b.Subscribe(ctx, "t"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Subscribe while down: %v, want ErrUnavailable", err)
	}
	bus.SetDown(false)
	must(a.Publish(ctx, Publication{Rooms: []string{"t"}, Data: []byte("after")}))
	if got := cb.waitFor(t, n+3); string(got[n+2].Data) != "after" {
		t.Fatalf("after outage b got %q", got[n+2].Data)
	}

	must(b.Close(ctx))
	if err := b.Close(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	must(a.Publish(ctx, Publication{Rooms: []string{"r"}})) // b is gone: nothing to do
}
