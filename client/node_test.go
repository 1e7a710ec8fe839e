package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
)

// Many nodes (PROTOCOL.md §7): the client names the node of its last welcome when it
// resumes (M/ws?node=, or <server> from the new SockJS session's first request), and a
// SockJS session's requests name the node its answers name in X-Sockhop-Node. These tests
// run the client against nodeServer, a fake that records the requests and scripts the
// welcomes, rather than a sockhop server (which names no node without a cluster).

// welcomeSpec is what nodeServer answers to one hello: a welcome naming node ("" none),
// resuming the session when the hello asks to, unless lose (resumed:false, a new session).
type welcomeSpec struct {
	node string
	lose bool
}

// headerNode is the node every SockJS answer of nodeServer names.
const headerNode = "nhdr77"

type nodeServer struct {
	url      string
	welcomes []welcomeSpec
	cut      chan []byte // ends the transport in use; a close message to send first, or nil: a drop
	stop     chan struct{}
	up       websocket.Upgrader

	mu       sync.Mutex
	reqs     []string // path?query of each request
	hellos   []events.Message
	sid      string
	sessions map[string]*fakeSockJS // by <session> id: <server> does not name a SockJS session
}

type fakeSockJS struct {
	q      chan []byte // messages for the receiving requests
	opened bool        // guarded by nodeServer.mu
}

func newNodeServer(t *testing.T, welcomes []welcomeSpec) *nodeServer {
	s := &nodeServer{welcomes: welcomes, cut: make(chan []byte), stop: make(chan struct{}), sessions: map[string]*fakeSockJS{}}
	s.up.Subprotocols = []string{"sockhop.v1"}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		close(s.stop)
		hs.Close()
	})
	s.url = hs.URL + "/rt"
	return s
}

var sockjsURL = regexp.MustCompile(`^/rt/sockjs/([^/]+)/([^/]+)/(xhr|xhr_streaming|xhr_send)$`)

func (s *nodeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.URL.Path+"?"+r.URL.RawQuery)
	s.mu.Unlock()
	if r.URL.Path == "/rt/ws" {
		s.serveWS(w, r)
		return
	}
	m := sockjsURL.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Sockhop-Node", headerNode)
	s.mu.Lock()
	sess := s.sessions[m[2]]
	if sess == nil {
		sess = &fakeSockJS{q: make(chan []byte, 16)}
		s.sessions[m[2]] = sess
	}
	first := !sess.opened
	sess.opened = true
	s.mu.Unlock()
	if m[3] == "xhr_send" {
		var frames []string
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &frames)
		for _, f := range frames {
			if b := s.frame([]byte(f)); b != nil {
				sess.q <- b
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	stream := m[3] == "xhr_streaming"
	w.Header().Set("Content-Type", "application/javascript; charset=UTF-8")
	write := func(line string) {
		_, _ = io.WriteString(w, line+"\n")
		w.(http.Flusher).Flush()
	}
	if stream {
		write(strings.Repeat("h", 2048))
	}
	if first {
		write("o")
		if !stream {
			return
		}
	}
	for {
		select {
		case b := <-sess.q:
			a, _ := json.Marshal([]string{string(b)})
			write("a" + string(a))
			if !stream {
				return
			}
		case msg := <-s.cut:
			if msg == nil {
				write(`c[1006,"cut"]`)
				return
			}
			a, _ := json.Marshal([]string{string(msg)})
			write("a" + string(a))
			write(`c[4003,"credentials expired"]`)
			return
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
}

func (s *nodeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	out := make(chan []byte, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if b := s.frame(p); b != nil {
				out <- b // one hello per connection: the buffer never fills
			}
		}
	}()
	defer func() {
		_ = c.Close()
		<-done
	}()
	for {
		select {
		case b := <-out:
			_ = c.WriteMessage(websocket.TextMessage, b)
		case msg := <-s.cut:
			if msg != nil {
				_ = c.WriteMessage(websocket.TextMessage, msg)
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4003, "credentials expired"), time.Now().Add(time.Second))
			}
			return
		case <-done:
			return
		case <-s.stop:
			return
		}
	}
}

// frame handles one frame of the client and returns the welcome when it holds a hello.
func (s *nodeServer) frame(p []byte) []byte {
	var welcome []byte
	_ = events.Lines(p, func(line []byte) error {
		m, err := events.Decode(line)
		if err != nil || m.T != events.TypeHello {
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		i := len(s.hellos)
		s.hellos = append(s.hellos, m)
		spec := s.welcomes[min(i, len(s.welcomes)-1)]
		resumed := m.Resume != nil && m.Resume.SID == s.sid && !spec.lose
		if !resumed {
			s.sid = fmt.Sprintf("S%d", i)
		}
		welcome = events.AppendWelcome(nil, events.Welcome{SID: s.sid, Token: fmt.Sprint("t", i), Ping: 25000, Pong: 20000, Max: 65536, Resumed: resumed, Node: spec.node})
		return nil
	})
	return welcome
}

var threeDigits = regexp.MustCompile(`^[0-9]{3}$`)

// named returns the node each transport connection named from its first request ("" for
// none), and checks that every later request of a SockJS session named the node of the
// X-Sockhop-Node answers, the hello's xhr_send included.
func (s *nodeServer) named(t *testing.T) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	seen := map[string]bool{}
	for _, r := range s.reqs {
		path, query, _ := strings.Cut(r, "?")
		if path == "/rt/sockjs/info" {
			continue // the round-trip measurement (ladder.go): names no session
		}
		if path == "/rt/ws" {
			q, _ := url.ParseQuery(query)
			names = append(names, q.Get("node"))
			continue
		}
		m := sockjsURL.FindStringSubmatch(path)
		switch {
		case m == nil:
			t.Errorf("request %s", r)
		case !seen[m[2]]:
			seen[m[2]] = true
			if threeDigits.MatchString(m[1]) {
				m[1] = ""
			}
			names = append(names, m[1])
		case m[1] != headerNode:
			t.Errorf("%s: a later request of a SockJS session names %s, not the node of its answers (%s)", r, m[1], headerNode)
		}
	}
	return names
}

// TestResumeNamesNode: a resume names the node of the last welcome; a welcome without one
// clears it; a new session (the first, one after the server ended the session) names none;
// after resumed:false the next resume names the new session's node.
func TestResumeNamesNode(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		s := newNodeServer(t, []welcomeSpec{
			{node: "nalpha1"},               // a new session
			{node: "nbeta22"},               // resumed, the session now on another node
			{},                              // resumed, the welcome names no node
			{node: "ngamma3"},               // resumed
			{node: "ndelta4"},               // after the server ended the session (4003): a new one
			{node: "nepsilon5", lose: true}, // the resume failed: a new session, on nepsilon5
			{},
		})
		// How each transport connection ends: nil is a drop, a close message ends the session.
		closeMsg := events.Encode(&events.Message{T: events.TypeClose, Code: events.CloseAuthExpired, Reason: "credentials expired"})
		cuts := [][]byte{nil, nil, nil, closeMsg, nil, nil}
		connected := make(chan struct{}, 16)
		c := client.New(s.url, client.Options{Transports: []string{tr}, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		c.OnConnect(func() { connected <- struct{}{} })
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-connected:
			case <-ctx.Done():
				t.Fatalf("connect %d: no connect; requests so far %q", i+1, s.named(t))
			}
			if i == len(cuts) {
				break
			}
			select {
			case s.cut <- cuts[i]:
			case <-ctx.Done():
				t.Fatalf("connect %d: no transport to cut", i+1)
			}
		}
		want := []string{"", "nalpha1", "nbeta22", "", "", "ndelta4", "nepsilon5"}
		if got := s.named(t); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("the transport connections named %q, want %q", got, want)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		var resumes []bool
		for _, h := range s.hellos {
			resumes = append(resumes, h.Resume != nil)
		}
		if fmt.Sprint(resumes) != fmt.Sprint([]bool{false, true, true, true, false, true, true}) {
			t.Errorf("hellos resumed %v", resumes)
		}
	})
}
