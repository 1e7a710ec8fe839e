package dial

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/transport"
)

func TestValidNode(t *testing.T) {
	for _, s := range []string{"nabc", "n123", "n" + strings.Repeat("z", 31), "n0a9"} {
		if !validNode(s) {
			t.Errorf("%q is a node id", s)
		}
	}
	for _, s := range []string{"", "n", "nab", "n" + strings.Repeat("a", 32), "N123", "nAbc", "x123", "n12-3", "n12_3", "n123/x", " n123", "n123 ", "517", "n12é"} {
		if validNode(s) {
			t.Errorf("%q is no node id", s)
		}
	}
}

// sockjsFake is a SockJS server that records the requests it gets and names a node in
// every answer: node(i) for the i-th request ("" names none). The first receiving request
// of a session opens it; later ones are held until the client goes; xhr_send gets 204.
type sockjsFake struct {
	node func(i int) string
	stop chan struct{}

	mu   sync.Mutex
	reqs []string // path?query of each request
	seen map[string]bool
}

func newSockJSFake(t *testing.T, node func(i int) string) (*sockjsFake, *httptest.Server) {
	f := &sockjsFake{node: node, stop: make(chan struct{}), seen: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		close(f.stop)
		srv.Close()
	})
	return f, srv
}

var sockjsPath = regexp.MustCompile(`^/rt/sockjs/([^/]+)/([^/]+)/(xhr|xhr_streaming|xhr_send)$`)

func (f *sockjsFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := sockjsPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	i := len(f.reqs)
	f.reqs = append(f.reqs, r.URL.Path+"?"+r.URL.RawQuery)
	first := !f.seen[m[2]]
	f.seen[m[2]] = true
	f.mu.Unlock()
	if n := f.node(i); n != "" {
		w.Header().Set(NodeHeader, n)
	}
	switch {
	case m[3] == "xhr_send":
		w.WriteHeader(http.StatusNoContent)
	case first:
		if m[3] == "xhr_streaming" {
			_, _ = w.Write([]byte(strings.Repeat("h", 2048) + "\n"))
		}
		_, _ = w.Write([]byte("o\n"))
	default:
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-f.stop:
		}
	}
}

func (f *sockjsFake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.reqs...)
}

// sockjsRun dials name against a fake naming node(i) in its i-th answer, sends two
// frames (the first is the hello) and waits for a second receiving request. It returns
// the <server> segment, <session> id, kind and query of each request.
func sockjsRun(t *testing.T, name string, node func(i int) string, opts Options) [][4]string {
	t.Helper()
	f, srv := newSockJSFake(t, node)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL+"/rt", name, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range []string{`{"t":"hello","v":1}`, `{"t":"ev","n":"x"}`} {
		if err := c.WriteFrame([][]byte{[]byte(frame)}); err != nil {
			t.Fatal(err)
		}
	}
	kind := "xhr_streaming"
	if name == transport.XHRPolling {
		kind = "xhr"
	}
	for n := 0; n < 2; {
		if ctx.Err() != nil {
			t.Fatalf("no second receiving request: %q", f.requests())
		}
		time.Sleep(2 * time.Millisecond)
		n = strings.Count(strings.Join(f.requests(), " "), "/"+kind+"?")
	}
	_ = c.Close(1000, "")
	var out [][4]string
	for _, r := range f.requests() {
		p, q, _ := strings.Cut(r, "?")
		m := sockjsPath.FindStringSubmatch(p)
		out = append(out, [4]string{m[1], m[2], m[3], q})
	}
	return out
}

var digits = regexp.MustCompile(`^[0-9]{3}$`)

// TestSockJSNamesNode: once an answer names the node that served it (X-Sockhop-Node),
// every later request of the SockJS session names it as <server>, the hello's xhr_send
// first (PROTOCOL.md §7, "Many nodes"); the session id and the request numbers stay.
func TestSockJSNamesNode(t *testing.T) {
	for _, name := range []string{transport.XHRStreaming, transport.XHRPolling} {
		t.Run(name, func(t *testing.T) {
			reqs := sockjsRun(t, name, func(int) string { return "nnode42" }, Options{})
			if !digits.MatchString(reqs[0][0]) || reqs[0][3] != "p=1" {
				t.Errorf("the first request names no node: %v", reqs[0])
			}
			var p, s []string
			for _, r := range reqs[1:] {
				if r[0] != "nnode42" || r[1] != reqs[0][1] {
					t.Errorf("%v: want <server> nnode42 and <session> %s", r, reqs[0][1])
				}
				if r[2] == "xhr_send" {
					s = append(s, r[3])
				} else {
					p = append(p, r[3])
				}
			}
			if strings.Join(s, " ") != "s=1 s=2" || !strings.HasPrefix(strings.Join(p, " "), "p=2") {
				t.Errorf("request numbers: sends %q, receives %q", s, p)
			}
		})
	}
}

// TestSockJSIgnoresBadNode: an X-Sockhop-Node that is no node id changes nothing, and
// neither does a later answer without one or with a bad one once a node is known.
func TestSockJSIgnoresBadNode(t *testing.T) {
	for _, name := range []string{transport.XHRStreaming, transport.XHRPolling} {
		t.Run(name, func(t *testing.T) {
			for _, bad := range []string{"N1234", "nab", "n" + strings.Repeat("a", 32), "n12-3", "517", "../n123"} {
				reqs := sockjsRun(t, name, func(int) string { return bad }, Options{})
				for _, r := range reqs {
					if r[0] != reqs[0][0] || !digits.MatchString(r[0]) {
						t.Errorf("%q: %v: want <server> %s", bad, r, reqs[0][0])
					}
				}
			}
			reqs := sockjsRun(t, name, func(i int) string { return map[int]string{0: "nfirst", 1: "bogus!"}[i] }, Options{})
			for _, r := range reqs[1:] {
				if r[0] != "nfirst" {
					t.Errorf("%v: want <server> nfirst", r)
				}
			}
		})
	}
}

// TestSockJSResumeNamesNode: Options.Node names the node as <server> from the first
// request of the session; an answer naming another node moves the later requests there.
func TestSockJSResumeNamesNode(t *testing.T) {
	for _, name := range []string{transport.XHRStreaming, transport.XHRPolling} {
		t.Run(name, func(t *testing.T) {
			reqs := sockjsRun(t, name, func(int) string { return "" }, Options{Resume: true, Node: "nresume7"})
			if reqs[0][3] != "p=1&resume=1" {
				t.Errorf("first request %v", reqs[0])
			}
			for _, r := range reqs {
				if r[0] != "nresume7" {
					t.Errorf("%v: want <server> nresume7", r)
				}
			}
			reqs = sockjsRun(t, name, func(i int) string { return map[int]string{0: "nother8"}[i] }, Options{Resume: true, Node: "nresume7"})
			if reqs[0][0] != "nresume7" {
				t.Errorf("first request %v", reqs[0])
			}
			for _, r := range reqs[1:] {
				if r[0] != "nother8" {
					t.Errorf("%v: want <server> nother8", r)
				}
			}
			reqs = sockjsRun(t, name, func(int) string { return "" }, Options{Node: "n1/../x"})
			if !digits.MatchString(reqs[0][0]) {
				t.Errorf("a node option that is no node id was named: %v", reqs[0])
			}
		})
	}
}

// TestWebSocketNamesNode: Options.Node dials M/ws?node=<id>; none, or no node id, M/ws.
func TestWebSocketNamesNode(t *testing.T) {
	var mu sync.Mutex
	var got []string
	up := websocket.Upgrader{Subprotocols: []string{"sockhop.v1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	for _, node := range []string{"nws123", "", "NWS123", "n12&x=1"} {
		c, err := Dial(context.Background(), srv.URL+"/rt", transport.WebSocket, Options{Resume: node != "", Node: node})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close(1000, "")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/rt/ws?node=nws123", "/rt/ws?", "/rt/ws?", "/rt/ws?"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("upgrades %q, want %q", got, want)
	}
}
