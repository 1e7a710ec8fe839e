package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/session"
)

// said is the data of "say" and of the "said" broadcast (node/main.go).
type said struct {
	Room string `json:"room"`
	N    int    `json:"n"`
	From string `json:"from"`
	Node string `json:"node,omitempty"`
	Seq  int    `json:"seq,omitempty"`
}

// goClient is a Go client of the cluster, through nginx, that tallies the "said" messages
// it receives.
type goClient struct {
	*client.Client
	name string
	said *tally

	mu           sync.Mutex
	sid, node    string      // of the session it had at its last whoami
	disconnects  []time.Time // guarded by mu
	connects     []time.Time // guarded by mu
	resumeFailed []time.Time // guarded by mu
	presence     []string    // "join user" / "leave user", guarded by mu
}

// dialOpts are the per-client options of dial.
type dialOpts struct {
	user        string // the hello's auth user
	noReconnect bool
	direct      *node // connect to this node, not through nginx
}

// dial connects a Go client on transport tr through nginx (or straight to o.direct) and
// asks the node who it is; it fails t when it cannot.
func (c *cluster) dial(t testing.TB, name, tr string, o dialOpts) *goClient {
	t.Helper()
	g, err := c.connect(t, name, tr, o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// connect is dial without failing t: it may run on any goroutine. The client is closed
// when t ends.
func (c *cluster) connect(t testing.TB, name, tr string, o dialOpts) (*goClient, error) {
	g := &goClient{name: name, said: newTally()}
	url := c.url()
	if o.direct != nil {
		url = "http://" + o.direct.addr + "/rt"
	}
	g.Client = client.New(url, client.Options{
		Transports:  []string{tr},
		Auth:        map[string]string{"user": o.user},
		OpenTimeout: 5 * time.Second,
		NoReconnect: o.noReconnect,
		MinBackoff:  100 * time.Millisecond,
		MaxBackoff:  time.Second,
		AckTimeout:  10 * time.Second,
	})
	g.On("said", func(_ context.Context, data json.RawMessage) {
		var m said
		if err := json.Unmarshal(data, &m); err != nil {
			m.N = -1
		}
		g.said.add(m.From, m.N, m.Seq)
	})
	for _, kind := range []string{"join", "leave"} {
		g.On("presence:"+kind, func(_ context.Context, data json.RawMessage) {
			var p struct{ Room, User string }
			_ = json.Unmarshal(data, &p)
			g.mu.Lock()
			g.presence = append(g.presence, kind+" "+p.User)
			g.mu.Unlock()
		})
	}
	g.OnConnect(func() { g.mu.Lock(); g.connects = append(g.connects, time.Now()); g.mu.Unlock() })
	g.OnDisconnect(func(error) { g.mu.Lock(); g.disconnects = append(g.disconnects, time.Now()); g.mu.Unlock() })
	g.OnResumeFailed(func() { g.mu.Lock(); g.resumeFailed = append(g.resumeFailed, time.Now()); g.mu.Unlock() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.Connect(ctx); err != nil {
		return nil, fmt.Errorf("client %s on %s: connect: %w", name, tr, err)
	}
	t.Cleanup(func() { _ = g.Close() })
	if err := g.whoami(ctx); err != nil {
		return nil, fmt.Errorf("client %s on %s: whoami: %w", name, tr, err)
	}
	return g, nil
}

// whoami asks the session's node for the session id and the node id.
func (g *goClient) whoami(ctx context.Context) error {
	raw, err := g.EmitWithAck(ctx, "whoami", nil)
	if err != nil {
		return err
	}
	var w struct{ SID, Node string }
	if err := json.Unmarshal(raw, &w); err != nil {
		return err
	}
	g.mu.Lock()
	g.sid, g.node = w.SID, w.Node
	g.mu.Unlock()
	return nil
}

// where returns the session id and node id of the last whoami.
func (g *goClient) where() (sid, node string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sid, g.node
}

// join joins room, failing t on an error.
func (g *goClient) join(t testing.TB, room string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.EmitWithAck(ctx, "join", map[string]string{"room": room}); err != nil {
		t.Fatalf("client %s: join %s: %v", g.name, room, err)
	}
}

// say sends one acked "say".
func (g *goClient) say(ctx context.Context, room, from string, n int) (map[string]any, error) {
	raw, err := g.EmitWithAck(ctx, "say", said{Room: room, N: n, From: from})
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(raw, &out)
}

// sayWindow sends the numbers 0 to n-1 from from, each an acked message, with up to
// window unanswered at once. They may leave in any order (EmitWithAck runs on a goroutine
// each): the node numbers them as it handles them (seq), and that is the order every
// receiver must see. It returns how many were acked and the first error.
func (g *goClient) sayWindow(room, from string, n, window int) (acked int, firstErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, window)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := g.say(ctx, room, from, i)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acked++
			} else if firstErr == nil {
				firstErr = fmt.Errorf("message %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	return acked, firstErr
}

// sayN sends the numbers 0 to n-1 from from, one acked message after the other (the next
// leaves once the previous is acked, so that they leave in order), and returns how many
// were acked and the first error.
func (g *goClient) sayN(room, from string, n int) (acked int, firstErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		if _, err := g.say(ctx, room, from, i); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("message %d: %w", i, err)
			}
			continue
		}
		acked++
	}
	return acked, firstErr
}

// isResumeFailed reports whether err is how the Go client fails an EmitWithAck whose
// session could not be resumed (the session was replaced by a new one): not a timeout,
// which would mean a message silently lost.
func isResumeFailed(err error) bool {
	return errors.Is(err, session.ErrClosed) || strings.Contains(err.Error(), "resume")
}

// dialMany connects n clients on tr through nginx, 10 at a time, and fails t with the
// first errors when some could not connect.
func (c *cluster) dialMany(t testing.TB, prefix, tr string, n int) []*goClient {
	t.Helper()
	out := make([]*goClient, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("%s%d", prefix, i)
			out[i], errs[i] = c.connect(t, name, tr, dialOpts{user: name})
		})
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d clients could not connect; the first: %v", len(failed), n, errors.Join(failed[:min(3, len(failed))]...))
	}
	return out
}

// TestGoClients: 50 Go clients per transport in one room, spread over three nodes by
// round-robin nginx; two of them, on different nodes, send 2,000 acked messages each, up to
// 64 unanswered at once. Every client gets all 4,000, each once, in order per sender: the
// order in which the sender's node handled them.
func TestGoClients(t *testing.T) {
	const clients, perSender, window = 50, 2000, 64
	for _, kind := range brokers {
		t.Run(kind.name, func(t *testing.T) {
			c := startCluster(t, kind, 3)
			testutil.ForEachTransport(t, func(t *testing.T, tr string) {
				room := "go-" + tr
				gs := c.dialMany(t, "g", tr, clients)
				perNode := map[string]int{}
				for _, g := range gs {
					g.join(t, room)
					_, nd := g.where()
					perNode[nd]++
				}
				t.Logf("%d clients per node: %v", clients, perNode)
				for _, nd := range c.nodes {
					if perNode[nd.id] < clients/6 {
						t.Errorf("%s holds %d of %d sessions: round robin should spread them (%v)", nd, perNode[nd.id], clients, perNode)
					}
				}
				a := gs[0]
				_, aNode := a.where()
				var b *goClient
				for _, g := range gs[1:] {
					if _, nd := g.where(); nd != aNode {
						b = g
						break
					}
				}
				if b == nil {
					t.Fatal("every client is on one node")
				}
				start := time.Now()
				var wg sync.WaitGroup
				acked := map[*goClient]int{}
				var mu sync.Mutex
				for _, s := range []*goClient{a, b} {
					wg.Go(func() {
						n, err := s.sayWindow(room, s.name, perSender, window)
						mu.Lock()
						acked[s] = n
						mu.Unlock()
						if err != nil {
							t.Errorf("sender %s: %d of %d acked; first error: %v", s.name, n, perSender, err)
						}
					})
				}
				wg.Wait()
				sendTime := time.Since(start)
				// Every ack is in: the broadcasts are on their way. Wait for the last ones.
				waitFor(t, 30*time.Second, "every client to get every message", func() (bool, string) {
					short := 0
					for _, g := range gs {
						if g.said.got(a.name) < perSender || g.said.got(b.name) < perSender {
							short++
						}
					}
					return short == 0, fmt.Sprintf("%d clients short", short)
				})
				var total counts
				for _, g := range gs {
					for _, s := range []*goClient{a, b} {
						cn := g.said.count(s.name, perSender)
						if !cn.ok() {
							t.Errorf("client %s from %s: %+v", g.name, s.name, cn)
						}
						total.add(cn)
					}
				}
				t.Logf("%s via %s: 2 senders x %d acked messages (%d, %d acked) to %d clients in %v (%.0f deliveries/s): %d delivered, %d lost, %d duplicated, %d reordered",
					tr, kind.name, perSender, acked[a], acked[b], clients, sendTime.Round(time.Millisecond),
					float64(total.Got)/time.Since(start).Seconds(), total.Got, total.Lost, total.Dup, total.Reordered)
				if total.Lost != 0 || total.Dup != 0 || total.Reordered != 0 {
					t.Errorf("%d lost, %d duplicated, %d reordered: want 0/0/0", total.Lost, total.Dup, total.Reordered)
				}
				for _, g := range gs {
					_ = g.Close()
				}
			})
		})
	}
}
