package sockhop

import (
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
	"github.com/sockhop/sockhop/transport/sockjs"
)

// clientIP is the address limits apply to: the connection's peer, or, when the peer is a
// trusted proxy, the right-most address of X-Forwarded-For that is not a trusted proxy.
func (srv *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !srv.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !srv.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (srv *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range srv.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// holdSlot takes one of ip's slots in c (perIP or shakes); it reports false when ip
// holds Options.MaxSessionsPerIP already. (Not "count": Server.Count counts members.)
func (srv *Server) holdSlot(c counts, ip string) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return c.add(ip, srv.opts.MaxSessionsPerIP)
}

// freeSlot gives back a slot holdSlot took.
func (srv *Server) freeSlot(c counts, ip string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	c.done(ip)
}

// admitSockJS decides, for a SockJS request that would create a session, whether it may
// (waiting for its turn under ConnectRate); when not, it answers 429, or 503 while the
// server shuts down, each with a Retry-After.
func (srv *Server) admitSockJS(w http.ResponseWriter, r *http.Request) bool {
	ip := srv.clientKey(r)
	// A client resuming says so (?resume=1): its session is counted already. The word of a
	// client is enough here, as a new session is counted again after its hello.
	resuming := r.URL.Query().Get("resume") == "1"
	srv.mu.Lock()
	draining := srv.stopping
	full := srv.shakes[ip] >= srv.opts.MaxSessionsPerIP || !resuming && srv.perIP[ip] >= srv.opts.MaxSessionsPerIP
	srv.mu.Unlock()
	var refusal error
	switch {
	case draining:
		refusal = &CloseError{Code: CloseGoingAway, Reason: "server shutting down", Retry: srv.retryHint()}
	case full:
		refusal = &CloseError{Code: CloseTryAgainLater, Reason: reasonSessionsPerAddress, Retry: busyRetry()}
	default:
		refusal = srv.pace(r, ip)
	}
	if refusal == nil {
		return true
	}
	refuseHTTP(w, r, refusal)
	if srv.obs != nil {
		ce := events.Cause(refusal)
		srv.obs.ConnectionRefused(sockJSTransport(r), ce.Code, refusalLimit(ce))
	}
	return false
}

// sockJSTransport names the transport of a SockJS receiving request by its path.
func sockJSTransport(r *http.Request) string {
	if strings.HasSuffix(r.URL.Path, "/xhr") {
		return transport.XHRPolling
	}
	return transport.XHRStreaming
}

// holdSend counts an xhr_send body in flight against its client's address, whose bodies
// in flight are limited to MaxSessionsPerIP like its handshakes; it returns the release,
// or nil when it answered 429. A body is a connection held open, not a connection made:
// it holds a goroutine, a connection and up to twice MaxMessageSize while it arrives, so
// it is counted like the other things under way, and not paced by ConnectRate, which
// would make a chatty session use up its address's budget for reconnecting.
func (srv *Server) holdSend(w http.ResponseWriter, r *http.Request) func() {
	ip := srv.clientKey(r)
	if !srv.holdSlot(srv.sends, ip) {
		ce := &CloseError{Code: CloseTryAgainLater, Reason: reasonSendsPerAddress, Retry: busyRetry()}
		refuseHTTP(w, r, ce)
		if srv.obs != nil {
			srv.obs.ConnectionRefused(sockJSTransport(r), ce.Code, refusalLimit(ce))
		}
		return nil
	}
	return func() { srv.freeSlot(srv.sends, ip) }
}

// refuseHTTP answers r, a SockJS request refused for err, a *CloseError: 429 for a limit
// (1013), 503 otherwise, with its retry hint as Retry-After in whole seconds, rounded up.
func refuseHTTP(w http.ResponseWriter, r *http.Request, err error) {
	ce := events.Cause(err)
	status := http.StatusServiceUnavailable
	if ce.Code == CloseTryAgainLater {
		status = http.StatusTooManyRequests
	}
	if ce.Retry > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt((ce.Retry+999)/1000, 10))
	}
	// The Origin was allowed before any limit is checked: let a page of another allowed
	// origin read the refusal and its hint, as it reads every other answer.
	sockjs.AllowOrigin(w, r)
	w.Header().Set("Access-Control-Expose-Headers", exposedHeaders)
	// The refused request's body is not read: without Connection: close, net/http would
	// read what is left of it (up to 256 KiB, as slowly as the client sends it) first.
	// (Not on HTTP/2, which has no such wait and would take it as a GOAWAY.)
	if r.ProtoMajor < 2 {
		w.Header().Set("Connection", "close")
	}
	http.Error(w, "sockhop: "+ce.Reason, status)
}

// busyRetry is the retry hint, in ms, of a refusal for a per-address limit on things
// under way (sessions, handshakes, xhr_send bodies): nobody knows when one ends, so the
// client comes back after 1 to 3 s, jittered so that refused clients spread out.
func busyRetry() int64 {
	return 1000 + rand.Int64N(2001)
}

// penalize charges ip's connection budget when reason says the client broke the protocol
// or a limit (see pacer.charge).
func (srv *Server) penalize(ip string, reason error) {
	if srv.pacer == nil {
		return
	}
	switch CloseCode(reason) {
	case CloseProtocolError, CloseUnsupportedData, CloseInvalidPayload, ClosePolicyViolation, CloseTooBig:
		srv.pacer.charge(ip, time.Now())
	}
}

// pace waits for the turn of r's client (at address ip) to start a connection under
// ConnectRate. When that turn is more than a second away, it holds the request a second
// anyway and then refuses it with a retry hint (a CloseError, 1013): a client that retries
// at once is so slowed to one try a second per connection, and one that opens many in
// parallel has at most its burst held and the rest refused at once. It also returns a
// CloseError when the request or the server ends first.
func (srv *Server) pace(r *http.Request, ip string) error {
	if srv.pacer == nil {
		return nil
	}
	key := ip // a clientKey
	wait, ok := srv.pacer.reserve(key, time.Now())
	var refusal error
	if !ok {
		srv.log.Debug("connection refused: connecting too often", "addr", ip)
		retry := max(100*time.Millisecond, wait-srv.pacer.maxWait)
		refusal = &CloseError{Code: CloseTryAgainLater, Reason: reasonConnectRate, Retry: retry.Milliseconds()}
		wait = srv.pacer.maxWait
	}
	if wait == 0 {
		return nil
	}
	if !srv.pacer.hold(key) {
		// The waiting room is full: a refusal is answered now, and a connection that has
		// its turn goes ahead early (the turn is counted; the rate holds over time).
		return refusal
	}
	defer srv.pacer.release(key)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return refusal
	case <-r.Context().Done():
		return &CloseError{Code: CloseAbnormal, Reason: "client gone"}
	case <-srv.baseCtx.Done():
		return &CloseError{Code: CloseGoingAway, Reason: "server shutting down", Retry: srv.retryHint()}
	}
}
