package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/faultproxy"
	"github.com/sockhop/sockhop/rooms"
)

// roundRobin is a load balancer without affinity: each request (each WebSocket) goes to a
// backend picked at random (strict rotation would send every client's first request to
// the same node, as the clients here make the same number of requests each).
func roundRobin(t *testing.T, backends ...string) string {
	t.Helper()
	return balancer(t, backends...).URL + "/rt"
}

// balancer is roundRobin's server, for tests that cut its connections.
func balancer(t *testing.T, backends ...string) *httptest.Server {
	t.Helper()
	targets := make([]*url.URL, len(backends))
	for i, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		targets[i] = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[rand.IntN(len(targets))])
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0), // clients that go away mid-request
	}
	hs := httptest.NewServer(rp)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs
}

// TestClusterRoundRobin: three nodes behind a round-robin balancer, clients on every
// transport; two of them send numbered messages with acks to a room whose members are on
// all nodes, and every member gets every message once, in order.
func TestClusterRoundRobin(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		bus := rooms.NewMemoryBus()
		var urls []string
		var nodes []*sockhop.Server
		for range 3 {
			srv, u := clusterNode(t, bus.Adapter(), sockhop.Options{MessageRate: -1, MaxQueueBytes: 8 << 20, Logger: testLogger()})
			type say struct {
				From string `json:"from"`
				N    int    `json:"n"`
			}
			sockhop.OnRequest(srv, "say", func(ctx context.Context, s *sockhop.Session, m say) (bool, error) {
				return true, srv.To("room").Emit(ctx, "said", m)
			})
			nodes = append(nodes, srv)
			urls = append(urls, u)
		}
		waitCluster(t, nodes)
		lb := roundRobin(t, urls...)
		const clients, senders = 12, 2
		msgs := 200
		if testing.Short() {
			msgs = 40
		}
		type got struct {
			mu   sync.Mutex
			last map[string]int
			n    int
			bad  []string
		}
		all := make([]*got, clients)
		cs := make([]*client.Client, clients)
		done := make(chan struct{}, clients)
		for i := range clients {
			g := &got{last: map[string]int{}}
			all[i] = g
			c := client.New(lb, client.Options{Transports: []string{tr}, NoReconnect: true})
			c.On("said", func(_ context.Context, d json.RawMessage) {
				var m struct {
					From string `json:"from"`
					N    int    `json:"n"`
				}
				_ = json.Unmarshal(d, &m)
				g.mu.Lock()
				defer g.mu.Unlock()
				if m.N != g.last[m.From]+1 {
					g.bad = append(g.bad, fmt.Sprintf("%s: %d after %d", m.From, m.N, g.last[m.From]))
				}
				g.last[m.From] = m.N
				if g.n++; g.n == senders*msgs {
					done <- struct{}{}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := c.Connect(ctx); err != nil {
				cancel()
				t.Fatalf("client %d: %v", i, err)
			}
			cancel()
			t.Cleanup(func() { _ = c.Close() })
			request(t, c, "join", "room")
			cs[i] = c
		}
		perNode := map[string]int{}
		for _, n := range nodes {
			perNode[n.NodeID()] = n.SessionCount()
		}
		t.Logf("%s: sessions per node %v", tr, perNode)
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from := fmt.Sprintf("s%d", s)
				for n := 1; n <= msgs; n++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := cs[s].EmitWithAck(ctx, "say", map[string]any{"from": from, "n": n})
					cancel()
					if err != nil {
						t.Errorf("%s message %d: %v", from, n, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for range clients {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				for i, g := range all {
					g.mu.Lock()
					t.Logf("client %d got %d", i, g.n)
					g.mu.Unlock()
				}
				t.Fatal("not every member got every message")
			}
		}
		for i, g := range all {
			g.mu.Lock()
			if len(g.bad) > 0 {
				t.Errorf("client %d: out of order or twice: %v", i, g.bad[:min(5, len(g.bad))])
			}
			g.mu.Unlock()
		}
		used := 0
		for _, n := range perNode {
			if n > 0 {
				used++
			}
		}
		if used < 2 { // random picks leave a node empty now and then, never two of three
			t.Errorf("sessions per node %v: the balancer did not spread them", perNode)
		}
	})
}

func testLogger() *slog.Logger {
	if os.Getenv("SOCKHOP_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestClusterResumeAnyNode: a client whose connections are all cut resumes its session
// through whatever node the balancer picks, and gets what was sent meanwhile, once.
func TestClusterResumeAnyNode(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		bus := rooms.NewMemoryBus()
		var urls []string
		var nodes []*sockhop.Server
		for range 3 {
			srv, u := clusterNode(t, bus.Adapter(), sockhop.Options{Logger: testLogger()})
			nodes = append(nodes, srv)
			urls = append(urls, u)
		}
		waitCluster(t, nodes)
		lb := balancer(t, urls...)
		fp, err := faultproxy.New(strings.TrimPrefix(lb.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fp.Close)
		c := client.New("http://"+fp.Addr()+"/rt", client.Options{Transports: []string{tr}, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		got := collect(c, "n", 100)
		failed := make(chan struct{}, 1)
		c.OnResumeFailed(func() { failed <- struct{}{} })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		sid := c.SessionID()
		var home *sockhop.Server
		for _, n := range nodes {
			if n.Session(sid) != nil {
				home = n
			}
		}
		if home == nil {
			t.Fatal("no node has the session")
		}
		s := home.Session(sid)
		for round := range 5 {
			fp.CutAll() // every connection to the balancer
			for i := range 3 {
				if err := s.Emit(ctx, "n", round*3+i); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				if d := string(got.next(t)); d != fmt.Sprint(round*3+i) {
					t.Fatalf("round %d: got %s, want %d", round, d, round*3+i)
				}
			}
		}
		select {
		case <-failed:
			t.Fatal("a resume failed")
		default:
		}
		if c.SessionID() != sid {
			t.Fatalf("the session changed: %s, then %s", sid, c.SessionID())
		}
		accepted, cuts := fp.Stats()
		if cuts < 5 || accepted < 6 {
			t.Fatalf("%d connections, %d cuts: the cuts did not happen", accepted, cuts)
		}
		t.Logf("%s: %d connections, %d cut, the session resumed each time", tr, accepted, cuts)
	})
}

// waitCluster waits until every node knows every other with its address.
func waitCluster(t *testing.T, nodes []*sockhop.Server) {
	t.Helper()
	waitFor(t, "nodes know each other", func() error {
		for _, n := range nodes {
			known := 0
			for _, i := range n.Nodes() {
				if i.Addr != "" {
					known++
				}
			}
			if known != len(nodes) {
				return fmt.Errorf("%s knows %d nodes with an address", n.NodeID(), known)
			}
		}
		return nil
	})
}
