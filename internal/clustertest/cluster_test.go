package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

// broker is the cluster's message broker, a child process of the test: testutil's Redis
// or NATS.
type broker interface {
	URL() string
	Pause()  // SIGSTOP: connections stay open, nothing answers
	Resume() // SIGCONT
	Kill()   // SIGKILL, like a crash
	Start()  // again on the same port, after Kill or Stop
}

// brokerKind is one kind of broker and the node flag that names it.
type brokerKind struct {
	name  string
	flag  string
	start func(t testing.TB) broker
}

var (
	redisBroker = brokerKind{"redis", "-redis", func(t testing.TB) broker { return testutil.StartRedis(t) }}
	natsBroker  = brokerKind{"nats", "-nats", func(t testing.TB) broker { return testutil.StartNATSJetStream(t) }}
	brokers     = []brokerKind{redisBroker, natsBroker}
)

// cluster is a broker, nodes and nginx in front of them.
type cluster struct {
	t      *testing.T
	kind   brokerKind
	broker broker
	nodes  []*node
	lb     *lb
	http   *http.Client // for the nodes' admin endpoint
}

// node is one node process.
type node struct {
	i    int
	id   string // its node id, as it printed it
	addr string // 127.0.0.1:port
	proc *process
}

func (n *node) String() string { return fmt.Sprintf("node %d (%s, %s)", n.i, n.id, n.addr) }

var nodeLine = regexp.MustCompile(`node (\S+) listening on (\S+)`)

// startCluster starts a broker of kind, n nodes sharing it and nginx in front of them, and
// waits until every node knows every other. Every node gets nodeArgs on its command line
// besides the harness's own. Everything stops when t ends; when t failed, the nodes' and
// nginx's logs are printed first.
func startCluster(t *testing.T, kind brokerKind, n int, nodeArgs ...string) *cluster {
	t.Helper()
	// What may skip the test comes first (-short, a missing nginx or broker), the build after.
	nginx := needNginx(t)
	br := kind.start(t)
	bin := program(t, "node")
	c := &cluster{t: t, kind: kind, broker: br, http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(c.http.CloseIdleConnections)
	var backends []string
	for i := range n {
		addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		backends = append(backends, addr)
		args := append([]string{bin, "-addr", addr, "-advertise", "http://" + addr, kind.flag, c.broker.URL(), "-v"}, nodeArgs...)
		p := startProcess(t, fmt.Sprintf("node%d", i), args...)
		c.nodes = append(c.nodes, &node{i: i, addr: addr, proc: p})
	}
	for _, nd := range c.nodes {
		m := nodeLine.FindStringSubmatch(nd.proc.waitOutput(t, " listening on ", 15*time.Second))
		if m == nil || m[2] != nd.addr {
			t.Fatalf("%s: unexpected first line: %q", nd.proc.name, nd.proc.out.String())
		}
		nd.id = m[1]
	}
	c.lb = startNginx(t, nginx, backends)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.logs())
		}
	})
	c.waitFormed()
	return c
}

// logs returns the end of every node's log and of nginx's.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, nd := range c.nodes {
		out := nd.proc.out.String()
		fmt.Fprintf(&b, "--- %s log (%d bytes, last 8000):\n%s\n", nd, len(out), tail([]byte(out), 8000))
	}
	b.WriteString(c.lb.logs())
	return b.String()
}

// url is the sockhop mount behind nginx.
func (c *cluster) url() string { return c.lb.url + "/rt" }

// byID returns the node with id, or nil.
func (c *cluster) byID(id string) *node {
	for _, nd := range c.nodes {
		if nd.id == id {
			return nd
		}
	}
	return nil
}

// waitFormed waits until every node counts a member of a probe room on every node, which
// it can only do once it has heard from all of them through the broker, and knows the
// address of every other node, to forward to it.
func (c *cluster) waitFormed() {
	t := c.t
	t.Helper()
	start := time.Now()
	room := "formed"
	var probes []*client.Client
	defer func() {
		for _, p := range probes {
			_ = p.Close()
		}
	}()
	for _, nd := range c.nodes {
		// Straight to the node, not through nginx: one member per node.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := client.Dial(ctx, "http://"+nd.addr+"/rt", client.Options{Transports: []string{client.WebSocket}})
		if err == nil {
			_, err = p.EmitWithAck(ctx, "join", map[string]string{"room": room})
		}
		cancel()
		if err != nil {
			t.Fatalf("probe client on %s: %v", nd, err)
		}
		probes = append(probes, p)
	}
	waitFor(t, 20*time.Second, "every node to count one member per node in the probe room", func() (bool, string) {
		var seen []string
		ok := true
		for _, nd := range c.nodes {
			v, err := c.view(nd, room)
			seen = append(seen, fmt.Sprintf("%s: %+v %v", nd.id, v, err))
			ok = ok && err == nil && v.Count == len(c.nodes) && len(v.Members) == len(c.nodes) && len(v.Nodes) == len(c.nodes)
			for _, n := range v.Nodes {
				// Synced: it knows the node's sessions; Addr: it can forward to it.
				ok = ok && n.Synced && n.Addr != ""
			}
		}
		return ok, strings.Join(seen, "; ")
	})
	t.Logf("cluster of %d nodes over %s formed in %v: %v", len(c.nodes), c.kind.name, time.Since(start).Round(time.Millisecond), c.nodes)
}

// view is what a node's admin endpoint tells of a room.
type view struct {
	Node     string   `json:"node"`
	Members  []string `json:"members"`
	Presence []string `json:"presence"`
	Count    int      `json:"count"`
	Local    int      `json:"local"`
	Nodes    []struct {
		ID, Addr string
		Sessions int
		Synced   bool
		Self     bool
	} `json:"nodes"`
	Error string `json:"error"`
}

// view asks node nd what it knows of room.
func (c *cluster) view(nd *node, room string) (view, error) {
	var v view
	resp, err := c.http.Get("http://" + nd.addr + "/cluster?room=" + room)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, err
	}
	if v.Error != "" {
		return v, fmt.Errorf("%s: %s", nd, v.Error)
	}
	return v, nil
}

// waitFor polls cond every 50 ms until it holds, or fails t after timeout with what cond
// said last.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("waited %v for %s; last: %s", timeout, what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTally checks the bookkeeping the other tests trust (no processes: runs under -short).
func TestTally(t *testing.T) {
	ta := NewTally()
	for _, n := range []int{0, 1, 3, 2, 3, 5} {
		ta.Add("a", n, 0)
	}
	// With seq, the order is the node's: n may come in any order.
	for i, n := range []int{2, 0, 1, 4, 3} {
		ta.Add("s", n, i+1)
	}
	ta.Add("s", 4, 6)
	ta.Add("s", 5, 6)
	if got, want := ta.Count("s", 6), (Counts{Got: 7, Dup: 1, Reordered: 0}); got != want {
		t.Errorf("count with seq = %+v, want %+v", got, want)
	}
	if got, want := ta.Count("a", 6), (Counts{Got: 6, Lost: 1, Dup: 1, Reordered: 1}); got != want {
		t.Errorf("count = %+v, want %+v", got, want)
	}
	if got, want := ta.Count("b", 3), (Counts{Lost: 3}); got != want {
		t.Errorf("count of a silent sender = %+v, want %+v", got, want)
	}
	if ta.Count("a", 6).OK() || !(Counts{Got: 2}).OK() {
		t.Error("ok() is wrong")
	}
}
