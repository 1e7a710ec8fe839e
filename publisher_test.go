package sockhop_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/rooms"
)

// newPublisher starts a Publisher on adapter, closed with the test.
func newPublisher(t *testing.T, opts sockhop.PublisherOptions) *sockhop.Publisher {
	t.Helper()
	p, err := sockhop.NewPublisher(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Publisher.Close: %v", err)
		}
	})
	return p
}

// userClient connects a client of user name (clusterNode's Authenticate) on transport tr.
func userClient(t *testing.T, url, tr, name string) *client.Client {
	t.Helper()
	return dialClient(t, url, tr, client.Options{Auth: map[string]string{"user": name}})
}

// expectSeq reads len(want) events from col and checks they are want, in order.
func expectSeq(t *testing.T, col *collector, who string, want ...string) {
	t.Helper()
	for i, w := range want {
		var got string
		if err := json.Unmarshal(col.next(t), &got); err != nil || got != w {
			t.Fatalf("%s: event %d is %q (%v), want %q (all: %q)", who, i, got, err, w, want)
		}
	}
}

// TestPublisher: a Publisher that serves no clients reaches, through the broker, the
// members of a room on two nodes and every session of a user on both, except the ids
// it leaves out; a node's ToUser does the same.
func TestPublisher(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		bus := rooms.NewMemoryBus()
		a, urlA := clusterNode(t, bus.Adapter(), sockhop.Options{})
		_, urlB := clusterNode(t, bus.Adapter(), sockhop.Options{})
		pub := newPublisher(t, sockhop.PublisherOptions{Adapter: bus.Adapter()})
		ctx := context.Background()

		ann1, ann2 := userClient(t, urlA, tr, "ann"), userClient(t, urlB, tr, "ann")
		bob, cat := userClient(t, urlB, tr, "bob"), userClient(t, urlA, tr, "cat")
		col := map[string]*collector{}
		for name, c := range map[string]*client.Client{"ann1": ann1, "ann2": ann2, "bob": bob, "cat": cat} {
			col[name] = collect(c, "news", 16)
		}
		request(t, ann1, "join", "lobby")
		request(t, bob, "join", "lobby")

		emit := func(b *sockhop.Broadcast, text string) {
			t.Helper()
			if err := b.Emit(ctx, "news", text); err != nil {
				t.Fatalf("emit %q: %v", text, err)
			}
		}
		emit(pub.To("lobby"), "room")
		emit(pub.ToUser("ann", "cat").Except(ann2.SessionID()), "ann-but-ann2-and-cat")
		emit(pub.ToUser("ann"), "ann")
		emit(pub.To("lobby").Except(bob.SessionID()), "lobby-but-bob")
		emit(pub.ToUser("nobody"), "nobody")
		emit(pub.ToUser("cat").Class(sockhop.Volatile), "volatile") // cat keeps up: delivered
		emit(pub.ToUser("ann", "bob", "cat").To("lobby"), "end")    // once each, ann1 and bob too
		expectSeq(t, col["ann1"], "ann (node A)", "room", "ann-but-ann2-and-cat", "ann", "lobby-but-bob", "end")
		expectSeq(t, col["ann2"], "ann (node B)", "ann", "end")
		expectSeq(t, col["bob"], "bob", "room", "end")
		expectSeq(t, col["cat"], "cat", "ann-but-ann2-and-cat", "volatile", "end")

		// From a node: its own sessions at once, the other node's through the broker.
		emit(a.ToUser("ann"), "from A")
		emit(a.ToUser("bob", "cat"), "end A")
		expectSeq(t, col["ann1"], "ann (node A)", "from A")
		expectSeq(t, col["ann2"], "ann (node B)", "from A")
		expectSeq(t, col["bob"], "bob", "end A")
		expectSeq(t, col["cat"], "cat", "end A")
		for name, c := range col {
			expectNone(t, c, name)
		}

		if err := pub.ToUser("ann").Class(sockhop.Durable).Emit(ctx, "news", "x"); !errors.Is(err, sockhop.ErrDurableUsers) {
			t.Fatalf("a durable emit to users: %v, want ErrDurableUsers", err)
		}
		if err := pub.ToUser("").Emit(ctx, "news", "x"); err == nil {
			t.Fatal("an emit to the empty user id was accepted")
		}
		if err := pub.To("\x00users").Emit(ctx, "news", "x"); err == nil {
			t.Fatal("an emit to the users' control room was accepted")
		}
	})
}

// TestPublisherDurable: a Publisher's durable broadcast is appended to the history the
// nodes share and reaches the room's members with its position.
func TestPublisherDurable(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		bus := rooms.NewMemoryBus()
		hist := rooms.NewMemoryHistory()
		_, url := clusterNode(t, bus.Adapter(), sockhop.Options{History: hist})
		pub := newPublisher(t, sockhop.PublisherOptions{Adapter: bus.Adapter(), History: hist})
		pub.Channel("news", sockhop.Channel{Class: sockhop.Durable, HistorySize: 2})
		c := userClient(t, url, tr, "ann")
		col := collect(c, "news", 16)
		request(t, c, "join", "news")
		ctx := context.Background()
		for _, text := range []string{"one", "two", "three"} {
			if err := pub.To("news").Emit(ctx, "news", text); err != nil {
				t.Fatal(err)
			}
		}
		expectSeq(t, col, "ann", "one", "two", "three")
		entries, latest, complete, err := hist.Since(ctx, "news", rooms.Position{}, 0)
		if err != nil || len(entries) != 2 || latest.Offset != 3 || complete {
			t.Fatalf("history: %d entries, latest %+v, complete %v, %v; want the last 2 (the Channel's size) of 3", len(entries), latest, complete, err)
		}
		if err := pub.To("news", "other").Class(sockhop.Durable).Emit(ctx, "news", "x"); !errors.Is(err, sockhop.ErrDurableRooms) {
			t.Fatalf("a durable emit to two rooms: %v, want ErrDurableRooms", err)
		}
	})
}

// TestPublisherLifecycle: NewPublisher needs an Adapter and starts it; after Close, Emit
// sends nothing and says so.
func TestPublisherLifecycle(t *testing.T) {
	if _, err := sockhop.NewPublisher(context.Background(), sockhop.PublisherOptions{}); err == nil {
		t.Fatal("NewPublisher without an Adapter succeeded")
	}
	started := rooms.NewMemoryBus().Adapter()
	if err := started.Start(context.Background(), func(rooms.Publication) {}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = started.Close(context.Background()) })
	if _, err := sockhop.NewPublisher(context.Background(), sockhop.PublisherOptions{Adapter: started}); err == nil {
		t.Fatal("NewPublisher on an adapter started already succeeded")
	}
	p, err := sockhop.NewPublisher(context.Background(), sockhop.PublisherOptions{Adapter: rooms.NewMemoryBus().Adapter()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.To("lobby").Emit(ctx, "news", 1); err != nil {
		t.Fatal(err)
	}
	if err := p.To("lobby").Class(sockhop.Durable).Emit(ctx, "news", 1); err == nil {
		t.Fatal("a durable emit without a History succeeded")
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.To("lobby").Emit(ctx, "news", 1); !errors.Is(err, sockhop.ErrServerClosed) {
		t.Fatalf("Emit after Close: %v, want ErrServerClosed", err)
	}
	if err := p.ToUser("ann").Emit(ctx, "news", 1); !errors.Is(err, sockhop.ErrServerClosed) {
		t.Fatalf("ToUser's Emit after Close: %v, want ErrServerClosed", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// TestServerToUser: on a server alone (no Adapter), ToUser reaches every session of the
// user and no one else's, anonymous sessions never; after Shutdown it sends nothing.
func TestServerToUser(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		srv, url := testServer(t, sockhop.Options{
			Authenticate: func(_ *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
				var a struct{ User string }
				_ = json.Unmarshal(auth, &a)
				return sockhop.Identity{UserID: a.User}, nil
			},
		}, func(srv *sockhop.Server) {
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "all") })
		})
		ann1, ann2, bob := userClient(t, url, tr, "ann"), userClient(t, url, tr, "ann"), userClient(t, url, tr, "bob")
		anon := dialClient(t, url, tr, client.Options{})
		cols := map[string]*collector{"ann1": collect(ann1, "news", 8), "ann2": collect(ann2, "news", 8), "bob": collect(bob, "news", 8), "anon": collect(anon, "news", 8)}
		ctx := context.Background()
		for _, e := range []struct {
			b    *sockhop.Broadcast
			text string
		}{{srv.ToUser("ann"), "ann"}, {srv.ToUser(""), "empty"}, {srv.ToUser("ann", "bob").Except(ann1.SessionID()), "end"}} {
			err := e.b.Emit(ctx, "news", e.text)
			if (err != nil) != (e.text == "empty") {
				t.Fatalf("emit %q: %v", e.text, err)
			}
		}
		if err := srv.To("all").Emit(ctx, "news", "marker"); err != nil {
			t.Fatal(err)
		}
		expectSeq(t, cols["ann1"], "ann1", "ann", "marker")
		expectSeq(t, cols["ann2"], "ann2", "ann", "end", "marker")
		expectSeq(t, cols["bob"], "bob", "end", "marker")
		expectSeq(t, cols["anon"], "an anonymous session", "marker")
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := srv.ToUser("ann").Emit(ctx, "news", "late"); !errors.Is(err, sockhop.ErrServerClosed) {
			t.Fatalf("ToUser's Emit after Shutdown: %v, want ErrServerClosed", err)
		}
	})
}
