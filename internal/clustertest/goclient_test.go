package clustertest

import (
	"cmp"
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
	said *Tally

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
	direct      *node                      // connect to this node, not through nginx
	backoff     time.Duration              // the reconnection back-off, min and max; zero: 100ms to 1s
	positions   map[string]client.Position // Options.Positions: where the client's durable rooms were
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
	g := &goClient{name: name, said: NewTally()}
	url := c.url()
	if o.direct != nil {
		url = "http://" + o.direct.addr + "/rt"
	}
	g.Client = client.New(url, client.Options{
		Transports:  []string{tr},
		Auth:        map[string]string{"user": o.user},
		OpenTimeout: 5 * time.Second,
		NoReconnect: o.noReconnect,
		MinBackoff:  cmp.Or(o.backoff, 100*time.Millisecond),
		MaxBackoff:  cmp.Or(o.backoff, time.Second),
		AckTimeout:  10 * time.Second,
		Positions:   o.positions,
	})
	g.On("said", func(_ context.Context, data json.RawMessage) {
		var m said
		if err := json.Unmarshal(data, &m); err != nil {
			m.N = -1
		}
		g.said.Add(m.From, m.N, m.Seq)
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

// swarmReport is what the swarm program prints (swarm/main.go).
type swarmReport struct {
	PerNode map[string]int `json:"per_node"`
	Senders []struct {
		Name, Node, Error string
		Acked             int
	} `json:"senders"`
	SendMS   int64    `json:"send_ms"`
	TotalMS  int64    `json:"total_ms"`
	Totals   Counts   `json:"totals"`
	Bad      []string `json:"bad"`
	Waiting  []string `json:"waiting"`
	Expected int      `json:"expected"`
}

// TestGoClients: 50 Go clients per transport in one room, spread over three nodes by
// round-robin nginx; two of them, on different nodes, send 2,000 acked messages each, up to
// 64 unanswered at once. Every client gets all 4,000, each once, in order per sender: the
// order in which the sender's node handled them. The clients run in the swarm program,
// built without the race detector, which in the test process would make them the
// bottleneck.
func TestGoClients(t *testing.T) {
	const clients, perSender, window = 50, 2000, 64
	for _, kind := range brokers {
		t.Run(kind.name, func(t *testing.T) {
			c := startCluster(t, kind, 3)
			swarm := program(t, "swarm")
			testutil.ForEachTransport(t, func(t *testing.T, tr string) {
				p := startProcess(t, "swarm", swarm, "-url", c.url(), "-transport", tr, "-room", "go-"+tr,
					"-clients", fmt.Sprint(clients), "-per", fmt.Sprint(perSender), "-window", fmt.Sprint(window),
					"-timeout", "100s")
				select {
				case <-p.exited:
				case <-time.After(2 * time.Minute):
					p.stop()
					t.Fatalf("swarm did not finish within 2 minutes:\n%s", p.out.String())
				}
				out := strings.TrimSpace(p.out.String())
				var r swarmReport
				if err := json.Unmarshal([]byte(out[strings.LastIndexByte(out, '\n')+1:]), &r); err != nil || p.cmd.ProcessState.ExitCode() != 0 {
					t.Fatalf("swarm: exit %d, report: %v\n%s", p.cmd.ProcessState.ExitCode(), err, out)
				}
				t.Logf("%s via %s: clients per node %v; senders %+v; 2 x %d acked messages in %d ms, all delivered after %d ms (%.0f deliveries/s): %d of %d delivered, %d lost, %d duplicated, %d reordered",
					tr, kind.name, r.PerNode, r.Senders, perSender, r.SendMS, r.TotalMS,
					float64(r.Totals.Got)/(float64(r.TotalMS)/1000), r.Totals.Got, r.Expected,
					r.Totals.Lost, r.Totals.Dup, r.Totals.Reordered)
				for _, nd := range c.nodes {
					if r.PerNode[nd.id] < clients/6 {
						t.Errorf("%s holds %d of %d sessions: round robin should spread them (%v)", nd, r.PerNode[nd.id], clients, r.PerNode)
					}
				}
				for _, s := range r.Senders {
					if s.Acked != perSender || s.Error != "" {
						t.Errorf("sender %s on %s: %d of %d acked; first error: %s", s.Name, s.Node, s.Acked, perSender, s.Error)
					}
				}
				if len(r.Waiting) > 0 {
					t.Errorf("clients still short 30 s after the last ack: %v", r.Waiting)
				}
				if !r.Totals.OK() || r.Totals.Got != r.Expected {
					t.Errorf("%d of %d delivered, %d lost, %d duplicated, %d reordered: want all, 0/0/0; receivers: %v",
						r.Totals.Got, r.Expected, r.Totals.Lost, r.Totals.Dup, r.Totals.Reordered, r.Bad)
				}
			})
		})
	}
}
