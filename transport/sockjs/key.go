package sockjs

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// KeyHeader is the request header that carries a SockJS session's key: a secret the client
// makes for each session it opens, sent with every request of that session and never in a
// URL. The session id is in every request path, so in proxy and access logs; the key is
// what makes a request the session owner's (PROTOCOL.md §7).
const KeyHeader = "X-Sockhop-Key"

// Key lengths, in characters of [A-Za-z0-9_-]: 22 carry 132 random bits.
const (
	minKeyLen = 22
	maxKeyLen = 128
)

// keySum is the SHA-256 of a session key: the handler keeps no key itself.
type keySum [sha256.Size]byte

// requestKey returns the hash of r's session key, or nil when r has none or a malformed
// one.
func requestKey(r *http.Request) *keySum {
	vs := r.Header.Values(KeyHeader)
	if len(vs) != 1 || len(vs[0]) < minKeyLen || len(vs[0]) > maxKeyLen {
		return nil
	}
	for i := 0; i < len(vs[0]); i++ {
		switch b := vs[0][i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '_', b == '-':
		default:
			return nil
		}
	}
	var buf [maxKeyLen]byte // the key hashed from the stack, not from a copy on the heap
	sum := keySum(sha256.Sum256(buf[:copy(buf[:], vs[0])]))
	return &sum
}

// owns reports, in constant time, whether key is the key c was made with.
func (c *Conn) owns(key *keySum) bool {
	if key == nil {
		return false
	}
	return subtle.ConstantTimeCompare(c.key[:], key[:]) == 1
}

// checkKey checks the key of r, a request for session sid, before anything of that
// session is touched: a session the handler has takes only its own key (403 otherwise,
// and the session changes in no way); a request for any other session must carry a
// well-formed key (400), with which the session will be made. It reports false when it
// refused r.
func (h *Handler) checkKey(w http.ResponseWriter, r *http.Request, sid string) (*keySum, bool) {
	key := requestKey(r)
	if c := h.conn(sid); c != nil {
		if !c.owns(key) {
			refuseKey(w, r)
			return nil, false
		}
		return key, true
	}
	if key == nil {
		refuse(w, r, http.StatusBadRequest, "sockhop: a SockJS request needs the "+KeyHeader+" header: the session's key, 22 to 128 characters of [A-Za-z0-9_-] (PROTOCOL.md §7)")
		return nil, false
	}
	return key, true
}

// refuseKey answers a request for a session that is not the requester's.
func refuseKey(w http.ResponseWriter, r *http.Request) {
	refuse(w, r, http.StatusForbidden, "sockhop: this SockJS session has another "+KeyHeader)
}

// refuse answers r with status and msg, readable by a page of an allowed origin (the
// guard refused every other origin already).
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	AllowOrigin(w, r)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}

// AllowOrigin lets a page of r's Origin read the answer (CORS with credentials). Call it
// only for requests whose Origin the guard's CheckOrigin has allowed: every answer after
// that check, refusals included, so that a page of another allowed origin can read it.
func AllowOrigin(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header["Origin"]; len(origin) > 0 && origin[0] != "" {
		hd := w.Header()
		hd["Access-Control-Allow-Origin"] = origin[:1:1] // the request's own value, not copied
		hd["Access-Control-Allow-Credentials"] = hdrTrue
	}
}
