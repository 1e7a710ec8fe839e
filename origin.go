package sockhop

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originPolicy decides which browser origins may open sessions.
type originPolicy struct {
	any      bool
	origins  map[string]bool // full origins, lower case
	patterns []string        // host patterns, lower case
}

func newOriginPolicy(o Options) (*originPolicy, error) {
	p := &originPolicy{any: o.InsecureAllowAnyOrigin, origins: map[string]bool{}}
	for _, a := range o.AllowedOrigins {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "" || a == "*":
			return nil, fmt.Errorf("sockhop: AllowedOrigins entry %q: use InsecureAllowAnyOrigin to allow any origin", a)
		case strings.Contains(a, "://"):
			u, err := url.Parse(a)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("sockhop: AllowedOrigins entry %q is not an origin", a)
			}
			p.origins[u.Scheme+"://"+u.Host] = true
		default:
			if _, err := path.Match(a, ""); err != nil {
				return nil, fmt.Errorf("sockhop: AllowedOrigins pattern %q: %w", a, err)
			}
			p.patterns = append(p.patterns, a)
		}
	}
	return p, nil
}

// allow reports whether r's Origin may open a session: no Origin (not a browser), the
// server's own host, or one the options allow.
func (p *originPolicy) allow(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(strings.ToLower(origin))
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == strings.ToLower(r.Host) || p.origins[u.Scheme+"://"+u.Host] {
		return true
	}
	for _, pat := range p.patterns {
		if ok, _ := path.Match(pat, u.Host); ok {
			return true
		}
		if ok, _ := path.Match(pat, u.Hostname()); ok {
			return true
		}
	}
	return false
}

// hostPolicy decides which Host headers the server answers (Options.AllowedHosts); nil
// answers any.
type hostPolicy struct {
	hosts    map[string]bool // names without a port, and host:port entries, lower case
	patterns []string        // path.Match patterns, lower case
}

func newHostPolicy(list []string) (*hostPolicy, error) {
	if len(list) == 0 {
		return nil, nil
	}
	p := &hostPolicy{hosts: map[string]bool{}}
	for _, h := range list {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		switch {
		case h == "" || h == "*" || strings.Contains(h, "/"):
			return nil, fmt.Errorf("sockhop: AllowedHosts entry %q is not a host name", h)
		case strings.ContainsAny(h, "*?["):
			if _, err := path.Match(h, ""); err != nil {
				return nil, fmt.Errorf("sockhop: AllowedHosts pattern %q: %w", h, err)
			}
			p.patterns = append(p.patterns, h)
		default:
			p.hosts[strings.Trim(h, "[]")] = true // "[::1]" is "::1"; "[::1]:8080" keeps its brackets
		}
	}
	return p, nil
}

// allow reports whether r's Host is listed: its name alone (any port), or name:port as
// given.
func (p *hostPolicy) allow(r *http.Request) bool {
	if p == nil {
		return true
	}
	full := strings.TrimSuffix(strings.ToLower(r.Host), ".")
	name := full
	if h, port, err := net.SplitHostPort(full); err == nil {
		name = strings.TrimSuffix(h, ".")
		full = net.JoinHostPort(name, port)
	}
	name = strings.Trim(name, "[]")
	if name == "" {
		return false
	}
	if p.hosts[name] || p.hosts[full] {
		return true
	}
	for _, pat := range p.patterns {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}
