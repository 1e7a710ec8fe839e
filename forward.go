package sockhop

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sockhop/sockhop/transport/sockjs"
)

// Forwarding (PROTOCOL.md §7 "Many nodes"): a request that names another live node (the
// <server> segment of a SockJS path, ?node= on M/ws) is proxied there as it is, so a load
// balancer without affinity can send a session's requests anywhere. The node that
// forwards adds two headers, which the receiving node trusts only with its own secret
// (shared through the broker's heartbeats): the client's address, for the per-address
// limits, and the secret itself, which also stops a forwarded request from being forwarded
// again.
const (
	headerForward = "X-Sockhop-Forward" // the receiving node's forwarding secret
	headerClient  = "X-Sockhop-Client"  // the client's address, as the first node saw it
	headerNode    = "X-Sockhop-Node"    // on answers: the node that served the request
)

// forwardTransport carries forwarded requests. Long polls and streams have no response
// deadline; dialing and the headers of a refusal do.
var forwardTransport = &http.Transport{
	Proxy:                 nil,
	DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost:   256,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   5 * time.Second,
	ExpectContinueTimeout: time.Second,
	DisableCompression:    true,
}

// forwarded reports whether r was forwarded to this node by another node of the cluster.
func (srv *Server) forwarded(r *http.Request) bool {
	k := r.Header.Get(headerForward)
	return k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(srv.node.Secret())) == 1
}

// namedNode returns the node id r names, or "": a SockJS session path's <server> segment
// when it is a node id, or M/ws?node=.
func namedNode(r *http.Request, segs []string) string {
	n := len(segs)
	var id string
	switch {
	case segs[n-1] == "ws":
		if r.URL.RawQuery == "" {
			return "" // the browser's first connection: no query to parse
		}
		id = r.URL.Query().Get("node")
	case n >= 4 && segs[n-4] == "sockjs":
		id = segs[n-3]
	}
	if !nodeIDPattern.MatchString(id) {
		return ""
	}
	return id
}

// route forwards r to the node it names when that is another live node, and returns nil;
// otherwise it returns the request to serve here: r, or, for a request another node
// forwarded, a copy that has the client's address as RemoteAddr and neither of the
// forwarding headers. SockJS session requests served here get the X-Sockhop-Node header.
func (srv *Server) route(w http.ResponseWriter, r *http.Request, segs []string) *http.Request {
	n := len(segs)
	sockjsSession := n >= 4 && segs[n-4] == "sockjs"
	if srv.forwarded(r) {
		client := forwardedClient(r)
		r = r.Clone(r.Context())
		r.Header.Del(headerForward) // the app never sees the secret
		r.Header.Del(headerClient)
		if client != "" {
			r.RemoteAddr = net.JoinHostPort(client, "0")
		}
	} else if id := namedNode(r, segs); id != "" && id != srv.node.ID() {
		if addr, secret, ok := srv.node.Lookup(id); ok {
			srv.forward(w, r, id, addr, secret, sockjsSession && segs[n-1] == "xhr_send")
			return nil
		}
	}
	if sockjsSession {
		// Shared values: a map assignment costs no allocation, Header.Set a slice each time
		// (Header.Add appends to a copy, as their capacity is their length).
		hd := w.Header()
		hd[headerNode] = srv.nodeHeader
		hd["Access-Control-Expose-Headers"] = exposedHeadersValue
	}
	return r
}

// exposedHeaders are the answer headers a cross-origin page may read.
const exposedHeaders = "Retry-After, X-Sockhop-Node"

var exposedHeadersValue = []string{exposedHeaders}

// forward proxies r to node id at addr. When the node cannot be reached, it is marked so
// until its next heartbeat, and a request without a body (a receiving request, an
// upgrade) is served here, as if it named no node; an xhr_send is refused with 503 and
// tried again by the client.
func (srv *Server) forward(w http.ResponseWriter, r *http.Request, id, addr, secret string, hasBody bool) {
	target, err := url.Parse(addr)
	if err != nil {
		http.Error(w, "sockhop: bad node address", http.StatusBadGateway)
		return
	}
	client := srv.clientIP(r)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // AllowedHosts and the Origin check see what the client sent
			pr.Out.Header.Set(headerForward, secret)
			pr.Out.Header.Set(headerClient, client)
		},
		Transport:     forwardTransport,
		FlushInterval: -1, // a stream streams
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away: not the node's fault
			}
			srv.node.Unreachable(id)
			srv.log.Warn("cluster: forwarding failed", "node", id, "addr", addr, "err", err)
			if !hasBody {
				srv.ServeHTTP(w, r) // the node is unreachable now: served here
				return
			}
			sockjs.AllowOrigin(w, r)
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Access-Control-Expose-Headers", exposedHeaders)
			http.Error(w, "sockhop: the session's node cannot be reached", http.StatusServiceUnavailable)
		},
	}
	rp.ServeHTTP(w, r)
}

// forwardedClient is the client address a trusted forwarded request carries, or "".
func forwardedClient(r *http.Request) string {
	a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get(headerClient)))
	if err != nil {
		return ""
	}
	return a.String()
}
