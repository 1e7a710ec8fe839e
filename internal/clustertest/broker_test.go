package clustertest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// recoverBound is how long cross-node delivery may take to come back after the broker
// does (the adapters' reconnect backoff is at most 2 s, plus resubscribing, plus a
// heartbeat or two for the nodes to find each other again after a long outage).
const recoverBound = 15 * time.Second

// freezeFor is how long the broker stays frozen: longer than the nodes' TTL (6 s), so
// that they forget each other and must find each other again.
const freezeFor = 8 * time.Second

// TestBrokerOutage freezes the broker (SIGSTOP) for longer than the nodes' TTL and later
// kills and restarts it at once, in the middle of a run, with clients on two nodes: during
// each outage a broadcast still reaches the members on the sender's node; after it,
// broadcasts cross nodes again, each once and in order.
func TestBrokerOutage(t *testing.T) {
	t.Parallel() // with TestNodeLoss: both mostly wait
	for _, kind := range brokers {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			brokerOutage(t, kind)
		})
	}
}

func brokerOutage(t *testing.T, kind brokerKind) {
	c := startCluster(t, kind, 3)
	n0, n1 := c.nodes[0], c.nodes[1]
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		room := "outage-" + tr
		// a1 and a2 share node 0; b is on node 1 and reached through nginx, so its requests
		// are forwarded between the nodes as in production.
		a1 := c.dial(t, "a1-"+tr, tr, dialOpts{user: "a1", direct: n0})
		a2 := c.dial(t, "a2-"+tr, tr, dialOpts{user: "a2", direct: n0})
		b := c.dialOn(t, "b-"+tr, tr, n1)
		for _, g := range []*goClient{a1, a2, b} {
			g.join(t, room)
		}
		// A client whose session did not survive joins again, so that the run is about
		// delivery, not membership; resume failures are reported, not failed on.
		b.OnResumeFailed(func() {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = b.EmitWithAck(ctx, "join", map[string]string{"room": room})
			}()
		})

		phase := func(from string, n int, receivers ...*goClient) {
			t.Helper()
			acked, err := a1.sayN(room, from, n)
			if err != nil || acked != n {
				t.Fatalf("%s: %d of %d acked: %v", from, acked, n, err)
			}
			waitFor(t, 10*time.Second, from+" to arrive", func() (bool, string) {
				for _, r := range receivers {
					if r.said.Got(from) < n {
						return false, fmt.Sprintf("%s got %d of %d", r.name, r.said.Got(from), n)
					}
				}
				return true, ""
			})
			for _, r := range receivers {
				if cn := r.said.Count(from, n); !cn.OK() {
					t.Errorf("%s, %s: %+v", from, r.name, cn)
				}
			}
		}
		// recovered waits until a broadcast from node 0 reaches b again.
		recovered := func(label string, since time.Time) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), recoverBound+5*time.Second)
			defer cancel()
			n := 0
			waitFor(t, recoverBound, "cross-node delivery to come back "+label, func() (bool, string) {
				if b.said.Got("probe-"+label) > 0 {
					return true, ""
				}
				_, _ = a1.say(ctx, room, "probe-"+label, n)
				n++
				return false, fmt.Sprintf("%d probes sent, none arrived", n)
			})
			t.Logf("%s: cross-node delivery back %v after the broker", label, time.Since(since).Round(time.Millisecond))
		}

		phase("before", 50, a2, b)

		c.broker.Pause()
		frozenAt := time.Now()
		phase("frozen", 3, a2) // local delivery goes on
		t.Logf("frozen: 3 acked messages delivered on node 0 in %v while the broker was frozen", time.Since(frozenAt).Round(time.Millisecond))
		time.Sleep(time.Until(frozenAt.Add(freezeFor)))
		phase("frozen-late", 3, a2) // and after the nodes forgot each other
		c.broker.Resume()
		recovered("thawed", time.Now())
		phase("thawed", 100, a2, b)

		c.broker.Kill()
		killedAt := time.Now()
		phase("killed", 3, a2)
		t.Logf("killed: 3 acked messages delivered on node 0 in %v", time.Since(killedAt).Round(time.Millisecond))
		time.Sleep(time.Second)
		c.broker.Start()
		recovered("restarted", time.Now())
		phase("restarted", 100, a2, b)

		b.mu.Lock()
		t.Logf("b: %d disconnects, %d resume failures during the outages", len(b.disconnects), len(b.resumeFailed))
		b.mu.Unlock()
		for _, g := range []*goClient{a1, a2, b} {
			_ = g.Close()
		}
	})
}

// dialOn connects a client through nginx, again and again, until its session lands on nd.
func (c *cluster) dialOn(t testing.TB, name, tr string, nd *node) *goClient {
	t.Helper()
	return c.dialOnWith(t, name, tr, nd, dialOpts{user: name})
}

// dialOnWith is dialOn with the options o (o.direct unused).
func (c *cluster) dialOnWith(t testing.TB, name, tr string, nd *node, o dialOpts) *goClient {
	t.Helper()
	o.direct = nil
	for range 30 {
		g := c.dial(t, name, tr, o)
		if _, id := g.where(); id == nd.id {
			return g
		}
		_ = g.Close()
		// A session makes a fixed number of requests through the round robin (the round
		// trip measured on /info, the opening, sends and polls), which can bring the next
		// opening to the same node every time: 0 to 2 requests more, at random, break the
		// beat (a miss is then 2/3 likely per try, 30 misses about 5e-6).
		for range rand.IntN(3) {
			if resp, err := c.http.Get(c.url() + "/sockjs/info"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}
	}
	t.Fatalf("30 clients through nginx, none on %s", nd)
	return nil
}
