package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

const wait = 10 * time.Second // for what must arrive while the backend is up

// testDeliver: a broadcast reaches the other subscribed nodes, never its own node (which
// has members in the room too), and not a node without members in the room.
func (s *suite) testDeliver(t *testing.T) {
	ctx := context.Background()
	a, b, c := s.newNode(t), s.newNode(t), s.newNode(t)
	must(t, a.Subscribe(ctx, "room"))
	must(t, b.Subscribe(ctx, "room"))
	must(t, c.Subscribe(ctx, "fence"))
	// Publish right after Subscribe returned: it must arrive.
	must(t, a.Publish(ctx, pub(one("room"), "1")))
	must(t, a.Publish(ctx, pub(one("room"), "2")))
	must(t, a.Publish(ctx, pub(one("fence"), "fence")))
	must(t, b.Publish(ctx, pub(one("room"), "from b")))
	if got := b.waitFor(wait, func(g []rooms.Publication) bool { return len(g) >= 2 }); string(got[0].Data) != "1" ||
		string(got[1].Data) != "2" || !slices.Equal(got[0].Rooms, one("room")) {
		t.Fatalf("B got %+v", got)
	}
	if got := c.waitData(wait, "fence"); len(got) != 0 {
		t.Fatalf("C, with no members in the room, got %+v", got)
	}
	// A fence for A: B's broadcast arrives, A's own never do.
	must(t, b.Publish(ctx, pub(one("room"), "fence")))
	got := a.waitData(wait, "fence")
	if len(got) != 1 || string(got[0].Data) != "from b" {
		t.Fatalf("A got %+v, want only B's broadcast", got)
	}
	if err := a.Start(ctx, func(rooms.Publication) {}); err == nil {
		t.Error("a second Start succeeded")
	}
}

// testCounted: a room subscribed twice stays subscribed until the second Unsubscribe;
// Unsubscribe of a room never subscribed is harmless.
func (s *suite) testCounted(t *testing.T) {
	ctx := context.Background()
	a, b := s.newNode(t), s.newNode(t)
	must(t, b.Subscribe(ctx, "r"))
	must(t, b.Subscribe(ctx, "r"))
	must(t, b.Subscribe(ctx, "fence"))
	must(t, b.Unsubscribe(ctx, "r"))
	must(t, a.Publish(ctx, pub(one("r"), "1")))
	must(t, a.Publish(ctx, pub(one("fence"), "fence")))
	if got := b.waitData(wait, "fence"); len(got) != 1 || string(got[0].Data) != "1" {
		t.Fatalf("after one of two Unsubscribes B got %+v, want the broadcast", got)
	}
	must(t, b.Unsubscribe(ctx, "r"))
	must(t, b.Unsubscribe(ctx, "never-subscribed"))
	must(t, a.Publish(ctx, pub(one("r"), "2")))
	must(t, a.Publish(ctx, pub(one("fence"), "fence 2")))
	if got := b.waitData(wait, "fence 2"); len(got) != 2 {
		t.Fatalf("after the last Unsubscribe B got %+v", got[1:])
	}
	// Subscribed again: delivered again.
	must(t, b.Subscribe(ctx, "r"))
	must(t, a.Publish(ctx, pub(one("r"), "3")))
	b.waitData(wait, "3")
}

// testMultiRoom: Except and Data cross byte for byte; a node with members in two of the
// rooms gets a multi-room broadcast once; nodes with members in none get nothing.
func (s *suite) testMultiRoom(t *testing.T) {
	ctx := context.Background()
	a, b, c := s.newNode(t), s.newNode(t), s.newNode(t)
	for _, r := range []string{"r1", "r2", "fence"} {
		must(t, b.Subscribe(ctx, r))
	}
	must(t, c.Subscribe(ctx, "r3"))
	must(t, c.Subscribe(ctx, "fence"))

	data := []byte("{\"t\":\"ev\",\"n\":\"chat\"}\n\x00\xff binary ok")
	want := rooms.Publication{Rooms: []string{"r1", "r2"}, Except: []string{"sess-1", "", "sess-ü"}, Data: data}
	must(t, a.Publish(ctx, want))
	must(t, a.Publish(ctx, pub([]string{"r2", "r3", "nobody"}, "second")))
	must(t, a.Publish(ctx, pub(one("r3"), "third")))
	must(t, a.Publish(ctx, pub(one("nobody"), "lost")))
	big := bytes.Repeat([]byte{0, 1, 2, 0xfe, '\r', '\n'}, 20000) // 120 KB
	must(t, a.Publish(ctx, rooms.Publication{Rooms: one("r1"), Data: big}))
	must(t, a.Publish(ctx, pub(one("fence"), "fence")))
	gotB, gotC := b.waitData(wait, "fence"), c.waitData(wait, "fence")
	if len(gotB) != 3 || len(gotC) != 2 {
		t.Fatalf("B got %d, C got %d broadcasts, want 3 and 2", len(gotB), len(gotC))
	}
	if g := gotB[0]; !slices.Equal(g.Rooms, want.Rooms) || !slices.Equal(g.Except, want.Except) || !bytes.Equal(g.Data, data) {
		t.Fatalf("B got %+v, want %+v", g, want)
	}
	if string(gotB[1].Data) != "second" || !slices.Equal(gotB[1].Rooms, []string{"r2", "r3", "nobody"}) ||
		string(gotC[0].Data) != "second" || string(gotC[1].Data) != "third" {
		t.Fatalf("B got %+v, C got %+v", gotB[1], gotC)
	}
	if !bytes.Equal(gotB[2].Data, big) || len(gotB[2].Except) != 0 {
		t.Fatalf("the 120 KB broadcast arrived with %d bytes, except %q", len(gotB[2].Data), gotB[2].Except)
	}
}

// strangeRooms are room names an adapter must carry as they are: the server's control
// rooms ("\x00" first), characters that are special to brokers (NATS: '.', '*', '>', space;
// Redis patterns: '*', '?', '['), bytes that are not UTF-8, the empty name, a long one.
var strangeRooms = []string{
	"\x00sockhop:all", "\x00node:0123456789abcdef", "\x00", "", "a b", "a.b", "a..b", ".", "*", ">",
	"a.*", "a.>", "*.>", "x?[y]", "tab\there", "crlf\r\n", "\xff\xfe\x80", "ü-日本", strings.Repeat("long.", 300),
	"sockhop.all", "all", ":all", "r:x",
}

// testRoomNames: every strange name is its own room, delivered with its name intact and
// only to the nodes subscribed to it (not to one subscribed to a name that differs by a
// byte, or to a wildcard-looking name).
func (s *suite) testRoomNames(t *testing.T) {
	ctx := context.Background()
	a, b, c := s.newNode(t), s.newNode(t), s.newNode(t)
	for _, r := range strangeRooms {
		must(t, b.Subscribe(ctx, r))
	}
	for _, r := range []string{"\x00sockhop:alm", "\x01", "a", "b", "a.b.c", "x", "\xff\xfe", "fence"} {
		must(t, c.Subscribe(ctx, r))
	}
	for i, r := range strangeRooms {
		must(t, a.Publish(ctx, pub(one(r), strconv.Itoa(i))))
	}
	must(t, a.Publish(ctx, pub(strangeRooms[:3], "multi")))
	must(t, a.Publish(ctx, pub(one("fence"), "fence")))
	got := b.waitFor(wait, func(g []rooms.Publication) bool { return len(g) == len(strangeRooms)+1 })
	for i, r := range strangeRooms {
		if string(got[i].Data) != strconv.Itoa(i) || !slices.Equal(got[i].Rooms, one(r)) {
			t.Fatalf("broadcast %d to %q arrived as %q to %q", i, r, got[i].Data, got[i].Rooms)
		}
	}
	if last := got[len(got)-1]; string(last.Data) != "multi" || !slices.Equal(last.Rooms, strangeRooms[:3]) {
		t.Fatalf("multi-room broadcast arrived as %+v", last)
	}
	if leaked := c.waitData(wait, "fence"); len(leaked) != 0 {
		t.Fatalf("C got broadcasts to rooms it did not subscribe: %q", leaked[0].Rooms)
	}
}

// testOrder: Publish calls made one after another by one goroutine arrive in that order at
// another node, across rooms, multi-room broadcasts and control rooms, as the server
// relies on for its node-to-node messages.
func (s *suite) testOrder(t *testing.T) {
	ctx := context.Background()
	a, b := s.newNode(t), s.newNode(t)
	targets := [][]string{
		one("\x00sockhop:all"), one("\x00node:b"), one("r0"), one("r1"), one("r2"),
		{"r1", "r2"}, one("r3"), {"r3", "\x00node:b"}, one("r4"),
	}
	for _, r := range []string{"\x00sockhop:all", "\x00node:b", "r0", "r1", "r2", "r3", "r4"} {
		must(t, b.Subscribe(ctx, r))
		must(t, a.Subscribe(ctx, r)) // A has members too: its own traffic comes back, or not
	}
	const n = 5000
	start := time.Now()
	for i := range n {
		p := pub(targets[i%len(targets)], strconv.Itoa(i))
		must(t, a.Publish(ctx, p))
	}
	got := b.waitFor(3*wait, func(g []rooms.Publication) bool { return len(g) >= n })
	el := time.Since(start)
	for i, p := range got {
		if string(p.Data) != strconv.Itoa(i) || !slices.Equal(p.Rooms, targets[i%len(targets)]) {
			t.Fatalf("broadcast %d arrived as %q to %q: out of order, duplicated or lost", i, p.Data, p.Rooms)
		}
	}
	must(t, a.Publish(ctx, pub(one("r0"), "fence")))
	if extra := b.waitData(wait, "fence"); len(extra) != n {
		t.Fatalf("B got %d broadcasts, want %d", len(extra), n)
	}
	if a.len() != 0 {
		t.Fatalf("A delivered %d of its own broadcasts", a.len())
	}
	t.Logf("%d sequential publishes over %d targets A->B: %v (%.0f/s)", n, len(targets), el.Round(time.Millisecond), n/el.Seconds())
}

// testConcurrent: several goroutines of A publish at once to several rooms; each one's
// broadcasts arrive at B in its own order, and all arrive.
func (s *suite) testConcurrent(t *testing.T) {
	ctx := context.Background()
	a, b := s.newNode(t), s.newNode(t)
	const pubs, each = 4, 500
	for i := range pubs {
		must(t, b.Subscribe(ctx, fmt.Sprintf("r%d", i)))
	}
	var wg sync.WaitGroup
	for g := range pubs {
		wg.Go(func() {
			for i := range each {
				room := fmt.Sprintf("r%d", (g+i)%pubs)
				if err := a.Publish(ctx, pub(one(room), fmt.Sprintf("%d/%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := b.waitFor(3*wait, func(g []rooms.Publication) bool { return len(g) >= pubs*each })
	next := make([]int, pubs)
	for _, p := range got {
		var g, i int
		if _, err := fmt.Sscanf(string(p.Data), "%d/%d", &g, &i); err != nil || g < 0 || g >= pubs || i != next[g] {
			t.Fatalf("got %q, want %d/%d next", p.Data, g, next[max(0, min(g, pubs-1))])
		}
		next[g]++
	}
}

// testClose: Close ends every goroutine the adapter started and later calls return
// ErrClosed.
func (s *suite) testClose(t *testing.T) {
	ctx := context.Background()
	peer := s.newNode(t)
	must(t, peer.Subscribe(ctx, "r"))
	before := goroutineIDs()
	a := s.h.NewAdapter(t)
	must(t, a.Start(ctx, nodetest.NewSink().Deliver))
	must(t, a.Subscribe(ctx, "r"))
	must(t, a.Publish(ctx, pub(one("r"), "sent before Close")))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	must(t, a.Close(cctx))
	// What Publish accepted before Close is sent, not dropped.
	peer.waitData(wait, "sent before Close")
	for _, err := range []error{
		a.Publish(ctx, pub(one("r"), "after")),
		a.Subscribe(ctx, "r"),
		a.Unsubscribe(ctx, "r"),
		a.Close(ctx),
		a.Start(ctx, func(rooms.Publication) {}),
	} {
		if !errors.Is(err, rooms.ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := newGoroutines(before)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutine(s) left 5s after Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling for goroutines to end
	}
}
