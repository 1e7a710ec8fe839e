package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/nats"
	"github.com/sockhop/sockhop/rooms/redis"
)

// clusterNode starts a node of a cluster on adapter, mounted at /rt of an httptest server
// that it advertises, with heartbeats fast enough for tests.
func clusterNode(t testing.TB, adapter rooms.Adapter, opts sockhop.Options) (*sockhop.Server, string) {
	t.Helper()
	return clusterNodeOn(t, adapter, opts, httptest.NewUnstartedServer(nil))
}

// clusterNodeOn is clusterNode served by hs (a listener of the test's own).
func clusterNodeOn(t testing.TB, adapter rooms.Adapter, opts sockhop.Options, hs *httptest.Server) (*sockhop.Server, string) {
	t.Helper()
	opts.Adapter = adapter
	opts.Advertise = "http://" + hs.Listener.Addr().String()
	opts.NodeHeartbeat, opts.NodeTTL = 50*time.Millisecond, 2*time.Second
	if opts.Authenticate == nil {
		opts.Authenticate = func(_ *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
			var a struct{ User string }
			_ = json.Unmarshal(auth, &a)
			return sockhop.Identity{UserID: a.User}, nil
		}
	}
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sockhop.OnRequest(srv, "join", func(ctx context.Context, s *sockhop.Session, room string) (bool, error) {
		return true, s.Join(ctx, room)
	})
	return srv, serveAt(t, srv, hs)
}

// waitFor retries f until it returns nil, for at most 10 s.
func waitFor(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterPresence: Members, Count, Presence and DisconnectUser answer for both nodes,
// presence events count a user's tabs as one member, and a node that stops is forgotten.
func TestClusterPresence(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		bus := rooms.NewMemoryBus()
		opts := sockhop.Options{PresenceEvents: func(room string) bool { return room == "lobby" }}
		a, urlA := clusterNode(t, bus.Adapter(), opts)
		b, urlB := clusterNode(t, bus.Adapter(), opts)
		ctx := context.Background()
		user := func(url, name string) *client.Client {
			return dialClient(t, url, tr, client.Options{Auth: map[string]string{"user": name}})
		}
		ann := user(urlA, "ann")
		pres := collect(ann, "presence:join", 10)
		left := collect(ann, "presence:leave", 10)
		request(t, ann, "join", "lobby")
		if got := string(pres.next(t)); got != `{"room":"lobby","user":"ann"}` {
			t.Fatalf("ann's own join: %s", got)
		}
		bob := user(urlB, "bob")
		request(t, bob, "join", "lobby")
		if got := string(pres.next(t)); got != `{"room":"lobby","user":"bob"}` {
			t.Fatalf("bob's join, seen on the other node: %s", got)
		}
		ann2 := user(urlB, "ann") // a second tab, on the other node
		request(t, ann2, "join", "lobby")

		want := []string{ann.SessionID(), bob.SessionID(), ann2.SessionID()}
		slices.Sort(want)
		for name, srv := range map[string]*sockhop.Server{"A": a, "B": b} {
			waitFor(t, "node "+name+" members", func() error {
				got, err := srv.Members(ctx, "lobby")
				if err != nil || !slices.Equal(got, want) {
					return fmt.Errorf("Members = %v, %v; want %v", got, err, want)
				}
				if n, _ := srv.Count(ctx, "lobby"); n != 3 {
					return fmt.Errorf("Count = %d", n)
				}
				if users, _ := srv.Presence(ctx, "lobby"); !slices.Equal(users, []string{"ann", "bob"}) {
					return fmt.Errorf("Presence = %v", users)
				}
				return nil
			})
		}
		if n := a.LocalCount("lobby"); n != 1 {
			t.Fatalf("LocalCount on A = %d, want 1", n)
		}

		// Bob is kicked from node A: his session on B closes with CloseKicked.
		n, err := a.DisconnectUser(ctx, "bob")
		if err != nil || n != 1 {
			t.Fatalf("DisconnectUser = %d, %v; want 1", n, err)
		}
		select {
		case <-bob.Done():
			if code := sockhop.CloseCode(bob.Err()); code != sockhop.CloseKicked {
				t.Fatalf("bob closed with %d, want %d", code, sockhop.CloseKicked)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("bob's session on the other node was not closed")
		}
		if got := string(left.next(t)); got != `{"room":"lobby","user":"bob"}` {
			t.Fatalf("bob's leave: %s", got)
		}
		// Ann's second tab closes: she still has one, so no leave; the members shrink.
		_ = ann2.Close()
		waitFor(t, "members after the tab closed", func() error {
			got, _ := a.Members(ctx, "lobby")
			if !slices.Equal(got, []string{ann.SessionID()}) {
				return fmt.Errorf("Members = %v", got)
			}
			return nil
		})
		expectNone(t, left, "ann, after her second tab closed")

		// Node B stops: A forgets it (its goodbye) and has no node but itself.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = b.Shutdown(sctx)
		waitFor(t, "node B forgotten", func() error {
			if ns := a.Nodes(); len(ns) != 1 || !ns[0].Self {
				return fmt.Errorf("Nodes = %+v", ns)
			}
			return nil
		})
	})
}

// TestClusterRoomNames: rooms whose names begin with a NUL byte are the server's.
func TestClusterRoomNames(t *testing.T) {
	srv, url := roomServer(t, nil)
	c := dialClient(t, url, "websocket", client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, "join", "\x00sockhop"); err == nil {
		t.Fatal("a client joined the cluster's control room")
	}
	if err := srv.To("\x00sockhop").Emit(ctx, "x", 1); err == nil {
		t.Fatal("an emit to the cluster's control room was accepted")
	}
}

// TestForwardSockJS: a SockJS request that names another node is served there, whichever
// node it reaches; one that names no live node is served where it arrives.
func TestForwardSockJS(t *testing.T) {
	bus := rooms.NewMemoryBus()
	a, _ := clusterNode(t, bus.Adapter(), sockhop.Options{})
	b, urlB := clusterNode(t, bus.Adapter(), sockhop.Options{})
	waitFor(t, "B knows A", func() error {
		for _, n := range b.Nodes() {
			if n.ID == a.NodeID() && n.Addr != "" {
				return nil
			}
		}
		return fmt.Errorf("B knows %+v", b.Nodes())
	})
	seen := make(chan string, 2)
	a.OnConnect(func(_ context.Context, s *sockhop.Session) error {
		seen <- s.RemoteAddr() + "|" + s.Header().Get("X-Sockhop-Forward") + "|" + s.Header().Get("X-Sockhop-Client")
		return nil
	})
	key := strings.Repeat("k", 32)
	post := func(url, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("X-Sockhop-Key", key)
		req.Header.Set("X-Sockhop-Forward", "forged")  // ignored: not B's secret
		req.Header.Set("X-Sockhop-Client", "10.9.9.9") // ignored with it
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	base := urlB + "/sockjs/" + a.NodeID() + "/abcdefghijkl/"
	res, body := post(base+"xhr", "")
	if res.Header.Get("X-Sockhop-Node") != a.NodeID() || !strings.HasPrefix(body, "o") {
		t.Fatalf("open through B naming A: node %q, body %q", res.Header.Get("X-Sockhop-Node"), body)
	}
	res, _ = post(base+"xhr_send", `["{\"t\":\"hello\",\"v\":1}"]`)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("xhr_send through B: %d", res.StatusCode)
	}
	_, body = post(base+"xhr", "")
	if !strings.Contains(body, `\"t\":\"welcome\"`) || !strings.Contains(body, `\"node\":\"`+a.NodeID()+`\"`) {
		t.Fatalf("welcome through B: %q", body)
	}
	waitFor(t, "the session on A", func() error {
		if a.SessionCount() != 1 {
			return fmt.Errorf("A has %d sessions", a.SessionCount())
		}
		return nil
	})
	// A sees the client's address, which B vouched for, and neither forwarding header; the
	// forged ones the client sent did not count.
	if got := <-seen; got != "127.0.0.1:0||" {
		t.Fatalf("the forwarded session's RemoteAddr|X-Sockhop-Forward|X-Sockhop-Client = %q", got)
	}
	// A WebSocket naming A, through B: the upgrade is proxied to A.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(urlB, "http")+"/ws?node="+a.NodeID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"t":"hello","v":1}`))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, welcome, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(welcome), `"node":"`+a.NodeID()+`"`) {
		t.Fatalf("welcome over a WebSocket through B: %q, %v", welcome, err)
	}
	if n := a.SessionCount(); n != 2 {
		t.Fatalf("A has %d sessions after the WebSocket's welcome, want 2", n)
	}
	// A node id nobody has: served by B itself.
	res, _ = post(urlB+"/sockjs/nzzzzzzzz/mnopqrstuvwx/xhr", "")
	if res.Header.Get("X-Sockhop-Node") == a.NodeID() || res.Header.Get("X-Sockhop-Node") == "" {
		t.Fatalf("an unknown node id was served by %q", res.Header.Get("X-Sockhop-Node"))
	}
}

// TestClusterNATS: the cluster's presence and forwarding on a real nats-server.
func TestClusterNATS(t *testing.T) {
	n := testutil.StartNATS(t)
	mk := func() rooms.Adapter {
		a, err := nats.New(nats.Options{URL: n.URL(), SubjectPrefix: "cluster"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		a, urlA := clusterNode(t, mk(), sockhop.Options{})
		b, urlB := clusterNode(t, mk(), sockhop.Options{})
		waitCluster(t, []*sockhop.Server{a, b})
		ann := dialClient(t, urlA, tr, client.Options{Auth: map[string]string{"user": "ann"}})
		request(t, ann, "join", "lobby")
		bob := dialClient(t, roundRobin(t, urlA, urlB), tr, client.Options{Auth: map[string]string{"user": "bob"}})
		request(t, bob, "join", "lobby")
		for name, srv := range map[string]*sockhop.Server{"A": a, "B": b} {
			waitFor(t, "node "+name+" presence", func() error {
				if users, _ := srv.Presence(context.Background(), "lobby"); !slices.Equal(users, []string{"ann", "bob"}) {
					return fmt.Errorf("Presence = %v", users)
				}
				return nil
			})
		}
	})
}

// TestClusterPresenceAfterRedisOutage: what changed while Redis was down reaches the
// other node when it is back (the numbers show the gap, a snapshot fills it), on a real
// redis-server.
func TestClusterPresenceAfterRedisOutage(t *testing.T) {
	r := testutil.StartRedis(t)
	mk := func() rooms.Adapter {
		a, err := redis.New(redis.Options{URL: r.URL(), KeyPrefix: "presence", MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, _ := clusterNode(t, mk(), sockhop.Options{})
	_, urlB := clusterNode(t, mk(), sockhop.Options{})
	ctx := context.Background()
	first := dialClient(t, urlB, "websocket", client.Options{Auth: map[string]string{"user": "first"}})
	request(t, first, "join", "lobby")
	waitFor(t, "A sees the first member", func() error {
		if users, _ := a.Presence(ctx, "lobby"); !slices.Equal(users, []string{"first"}) {
			return fmt.Errorf("Presence = %v", users)
		}
		return nil
	})
	r.Kill()
	late := dialClient(t, urlB, "websocket", client.Options{Auth: map[string]string{"user": "late"}})
	request(t, late, "join", "lobby") // B cannot tell A now
	r.Start()
	waitFor(t, "A sees the member that joined during the outage", func() error {
		if users, _ := a.Presence(ctx, "lobby"); !slices.Equal(users, []string{"first", "late"}) {
			return fmt.Errorf("Presence = %v", users)
		}
		return nil
	})
}
