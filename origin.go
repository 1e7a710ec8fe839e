package sockhop

import (
	"fmt"
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
