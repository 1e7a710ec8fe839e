package main

import (
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/sockhop/sockhop"
)

// environ is the program's environment: the variables of -passenv, then CGI's (as
// websocketd sets them) and sockhop's own.
//
//	SOCKHOP_SESSION, UNIQUE_ID   the session id
//	SOCKHOP_TRANSPORT            the transport the session started on
//	REMOTE_ADDR, REMOTE_HOST     the client's address (no reverse lookup); behind
//	                             -trusted-proxy, from X-Forwarded-For
//	REMOTE_PORT                  the client's (or last proxy's) port
//	QUERY_STRING                 the page's query string (the console sends it), or the
//	                             opening request's
//	SERVER_NAME, SERVER_PORT     from the Host header
//	HTTPS                        "on" over TLS
//	HTTP_*                       every request header: HTTP_ORIGIN, HTTP_COOKIE,
//	                             HTTP_USER_AGENT, HTTP_X_FORWARDED_FOR...
//	REQUEST_METHOD, SERVER_PROTOCOL, SERVER_SOFTWARE, GATEWAY_INTERFACE, SCRIPT_NAME
func (a *execApp) environ(s *sockhop.Session, info authInfo) []string {
	var env []string
	for _, name := range splitList(a.cfg.passenv) {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	h := s.Header()
	host, port, err := net.SplitHostPort(s.RemoteAddr())
	if err != nil {
		host = s.RemoteAddr()
	}
	remote := clientAddr(host, h.Get("X-Forwarded-For"), splitList(a.cfg.trusted))
	serverName, serverPort := info.Host, ""
	if hh, hp, err := net.SplitHostPort(info.Host); err == nil {
		serverName, serverPort = hh, hp
	} else if info.TLS {
		serverPort = "443"
	} else {
		serverPort = "80"
	}
	set := func(k, v string) { env = append(env, k+"="+clean(v)) }
	set("SOCKHOP_SESSION", s.ID())
	set("UNIQUE_ID", s.ID())
	set("SOCKHOP_TRANSPORT", s.Transport())
	set("REMOTE_ADDR", remote)
	set("REMOTE_HOST", remote)
	set("REMOTE_PORT", port)
	set("QUERY_STRING", info.Query)
	set("SERVER_NAME", serverName)
	set("SERVER_PORT", serverPort)
	set("REQUEST_METHOD", "GET")
	set("SERVER_PROTOCOL", "HTTP/1.1")
	set("SERVER_SOFTWARE", "sockhop/"+version())
	set("GATEWAY_INTERFACE", "websocketd-CGI/0.1")
	set("SCRIPT_NAME", a.cfg.mount)
	if info.TLS {
		set("HTTPS", "on")
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name := "HTTP_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		if !validEnvName(name) || name == "HTTP_PROXY" { // httpoxy: never let a client set a program's proxy
			continue
		}
		set(name, strings.Join(h.Values(k), ", "))
	}
	return env
}

// clientAddr is the client's address: the TCP peer, or, when the peer is a trusted
// proxy, the last address of X-Forwarded-For that is not one.
func clientAddr(peer, xff string, trusted []string) string {
	if len(trusted) == 0 || xff == "" || !isTrusted(peer, trusted) {
		return peer
	}
	hops := strings.Split(xff, ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			return peer // a malformed header: believe nothing of it
		}
		if !isTrusted(hop, trusted) {
			return hop
		}
	}
	return peer
}

func isTrusted(addr string, trusted []string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, t := range trusted {
		if p, err := netip.ParsePrefix(t); err == nil && p.Contains(ip) {
			return true
		}
		if a, err := netip.ParseAddr(t); err == nil && a.Unmap() == ip {
			return true
		}
	}
	return false
}

func validEnvName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// clean drops NUL bytes, which an environment cannot hold.
func clean(v string) string { return strings.ReplaceAll(v, "\x00", "") }
