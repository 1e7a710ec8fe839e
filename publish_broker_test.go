package sockhop_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/nats"
	"github.com/sockhop/sockhop/rooms/redis"
)

// TestPublishRedis: publishing from other processes on a real redis-server (testPublishBroker).
func TestPublishRedis(t *testing.T) {
	t.Parallel()
	testPublishBroker(t, redisAdapters(t))
}

// TestPublishNATS: publishing from other processes on a real nats-server with JetStream
// (testPublishBroker).
func TestPublishNATS(t *testing.T) {
	t.Parallel()
	testPublishBroker(t, natsAdapters(t, testutil.StartNATSJetStream(t)))
}

// redisAdapters starts a redis-server for t and returns what makes adapters on it, each
// with the key prefix given (the nodes of one cluster share a prefix).
func redisAdapters(t *testing.T) func(prefix string) rooms.Adapter {
	r := testutil.StartRedis(t)
	return func(prefix string) rooms.Adapter {
		a, err := redis.New(redis.Options{URL: r.URL(), KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
}

// natsAdapters is redisAdapters for the nats-server n.
func natsAdapters(t *testing.T, n *testutil.NATS) func(prefix string) rooms.Adapter {
	return func(prefix string) rooms.Adapter {
		a, err := nats.New(nats.Options{URL: n.URL(), SubjectPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
}

// testPublishBroker: two nodes and a Publisher on a real broker, whose History and Claimer
// they use (no Options.History or Claimer): the HTTP endpoint's retry with the same
// Idempotency-Key on the other node is delivered once, also for a durable publish, and
// the Publisher reaches a room's members and a user's sessions on both nodes, durable
// broadcasts included, each message once and a room's durable ones in offset order
// whichever publisher sent them.
func testPublishBroker(t *testing.T, mk func(prefix string) rooms.Adapter) {
	forEachTransport(t, func(t *testing.T, tr string) {
		prefix := "pub" + strings.ReplaceAll(tr, "-", "")
		opts := sockhop.Options{PublishKey: testPublishKey}
		a, urlA := clusterNode(t, mk(prefix), opts)
		b, urlB := clusterNode(t, mk(prefix), opts)
		waitCluster(t, []*sockhop.Server{a, b})
		pa := mk(prefix)
		hist := pa.(rooms.History)
		pub := newPublisher(t, sockhop.PublisherOptions{Adapter: pa})
		ctx := context.Background()

		ann, ann2, bob := userClient(t, urlA, tr, "ann"), userClient(t, urlB, tr, "ann"), userClient(t, urlB, tr, "bob")
		cols := map[string]*collector{"ann": collect(ann, "news", 32), "ann2": collect(ann2, "news", 32), "bob": collect(bob, "news", 32)}
		request(t, ann, "join", "lobby")
		request(t, bob, "join", "lobby")

		post := func(url, idem, body, want string) string {
			t.Helper()
			code, got := postPublish(t, url, testPublishKey, idem, body)
			if code != http.StatusOK || !strings.Contains(got, want) {
				t.Fatalf("publish %s (key %q): %d %s, want 200 with %s", body, idem, code, got, want)
			}
			return got
		}
		for _, key := range []string{"", "wrong"} { // refused on either node, delivered nowhere
			if code, got := postPublish(t, urlB, key, "k1", `{"rooms":["lobby"],"event":"news","data":"refused"}`); code != http.StatusUnauthorized {
				t.Fatalf("publish with key %q: %d %s, want 401", key, code, got)
			}
		}
		post(urlA, "k1", `{"rooms":["lobby"],"event":"news","data":"once"}`, `{"ok":true}`)
		post(urlB, "k1", `{"rooms":["lobby"],"event":"news","data":"once"}`, `"duplicate":true`)
		if err := pub.ToUser("ann").Emit(ctx, "news", "user"); err != nil {
			t.Fatal(err)
		}
		seen := map[string]map[string]int{"ann": {}, "ann2": {}, "bob": {}}
		until := func(who, text string) { // reads who's messages, counting them, until text
			t.Helper()
			for seen[who][text] == 0 {
				var s string
				_ = json.Unmarshal(cols[who].next(t), &s)
				seen[who][s]++
			}
		}
		if err := pub.To("lobby").Class(sockhop.Durable).Emit(ctx, "news", "durable P"); err != nil {
			t.Fatal(err)
		}
		// No wait: node A's own delivery of the next durable message of lobby may overtake
		// the broker's of this one; the node hands them to its members in offset order.
		got := post(urlA, "k2", `{"rooms":["lobby"],"event":"news","data":"durable A","class":"durable"}`, `"pos":`)
		var reply struct{ Pos rooms.Position }
		if err := json.Unmarshal([]byte(got), &reply); err != nil || reply.Pos.Offset != 2 {
			t.Fatalf("the endpoint's durable publish, after the Publisher's: %s, want offset 2", got)
		}
		post(urlB, "k2", `{"rooms":["lobby"],"event":"news","data":"durable A","class":"durable"}`, `"duplicate":true`)
		end := func(url, data string) {
			post(url, "", `{"rooms":["lobby"],"users":["ann","bob"],"event":"news","data":"`+data+`"}`, `{"ok":true}`)
		}
		end(urlA, "end A")
		end(urlB, "end B")
		if err := pub.ToUser("ann", "bob").To("lobby").Emit(ctx, "news", "end P"); err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{
			"ann":  {"once", "user", "durable P", "durable A"},
			"ann2": {"user"},
			"bob":  {"once", "durable P", "durable A"},
		}
		for who := range cols {
			// Every source's messages come in order, so a duplicate would come before its end.
			until(who, "end A")
			until(who, "end B")
			until(who, "end P")
			for _, w := range want[who] {
				until(who, w) // a node may hold a durable message for a moment (durable_order.go)
			}
			for _, w := range append(want[who], "end A", "end B", "end P") {
				if seen[who][w] != 1 {
					t.Fatalf("%s got %v; want each of %q once", who, seen[who], want[who])
				}
			}
			if len(seen[who]) != len(want[who])+3 {
				t.Fatalf("%s got %v; want only %q and the ends", who, seen[who], want[who])
			}
		}
		entries, latest, _, err := hist.Since(ctx, "lobby", rooms.Position{}, 0)
		if err != nil || len(entries) != 2 || latest.Offset != 2 {
			t.Fatalf("the broker's history of lobby: %d entries, latest %+v, %v; want 2", len(entries), latest, err)
		}
	})
}
