package dial

import (
	"net/url"
	"sync/atomic"
)

// Many nodes (PROTOCOL.md §7): a server may be one node of several behind a load balancer
// without affinity, and serves each request on the node the request names. A SockJS
// session's requests name the session's node as their <server> path segment once an
// answer has said which node that is (NodeHeader); a resume names the node of the last
// welcome from its first request: the <server> of the new SockJS session, or ?node= on
// the WebSocket URL. A new session names none.

// NodeHeader carries, on every answer to a SockJS session's request, the id of the node
// that served it.
const NodeHeader = "X-Sockhop-Node"

// validNode reports whether s is a node id: n and 3 to 31 characters of [a-z0-9]. Any
// other value, in Options.Node or in a NodeHeader, is ignored.
func validNode(s string) bool {
	if len(s) < 4 || len(s) > 32 || s[0] != 'n' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// server is the <server> segment of a SockJS session's URL: three digits until the
// session's node is known, then its id. The receiving goroutine and writers share it.
type server struct{ v atomic.Pointer[string] }

func (s *server) get() string { return *s.v.Load() }

func (s *server) set(v string) { s.v.Store(&v) }

// learn takes the node an answer names, when it is a node id.
func (s *server) learn(v string) {
	if validNode(v) && v != s.get() {
		s.set(v)
	}
}

// withNode returns u with ?node=node added, when node is a node id.
func withNode(u url.URL, node string) url.URL {
	if validNode(node) {
		q := u.Query()
		q.Set("node", node)
		u.RawQuery = q.Encode()
	}
	return u
}
