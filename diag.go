package sockhop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"time"
)

// diagEvent is the event the connectivity doctor page sends with emitWithAck to measure
// round trips and to learn what the server saw of the request that opened the session.
const diagEvent = "sockhop:diag"

// diagAssets is the connectivity doctor page: index.html, diag.js and diag.css. The page
// loads the bundled client from <mount>/sockhop.js and its own files from
// <mount>/diag?asset=<name>, so that the server's routing needs only the one path.
//
//go:embed diag
var diagAssets embed.FS

// diagCSP allows nothing but this server: no inline script or style, no framing.
const diagCSP = "default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// diagAssetTypes are the files of diagAssets served through ?asset=, with their types.
var diagAssetTypes = map[string]string{
	"diag.js":  "text/javascript; charset=utf-8",
	"diag.css": "text/css; charset=utf-8",
}

// serveDiag serves the connectivity doctor page at <mount>/diag.
func (srv *Server) serveDiag(w http.ResponseWriter, r *http.Request) {
	name, ctype, ok := pageAsset(w, r, diagAssetTypes)
	if !ok {
		return
	}
	b, err := diagAssets.ReadFile(path.Join("diag", name))
	if err != nil {
		http.Error(w, "sockhop: diag asset missing", http.StatusInternalServerError)
		return
	}
	if name == "index.html" {
		// The client's content hash in its URL, so that a cached old client never runs
		// against this server.
		b = bytes.ReplaceAll(b, []byte("{{clientVersion}}"), []byte(srv.ClientJSVersion()))
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", diagCSP)
	sum := sha256.Sum256(b)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// diagReply answers the diag event: the data sent (so that the page can check that the
// round trip kept it intact) and what the server saw of the request that opened the
// session. Header values that may carry secrets or addresses are reported by presence only.
type diagReply struct {
	Echo       json.RawMessage `json:"echo"`
	Transport  string          `json:"transport"`
	ServerTime int64           `json:"server_time"` // unix ms
	Headers    diagHeaders     `json:"headers"`
}

type diagHeaders struct {
	Via             bool   `json:"via"`
	ViaValue        string `json:"via_value,omitempty"` // proxy names and protocol versions
	XForwardedFor   bool   `json:"x_forwarded_for"`
	XForwardedProto string `json:"x_forwarded_proto,omitempty"` // "http" or "https"
	XForwardedHost  bool   `json:"x_forwarded_host"`
	Forwarded       bool   `json:"forwarded"`
	XRealIP         bool   `json:"x_real_ip"`
}

// registerDiag registers the handler of the connectivity doctor's round trips, unless the
// doctor is turned off. New calls it.
func (srv *Server) registerDiag() {
	if srv.opts.DisableDiag {
		return
	}
	srv.Handle(diagEvent, func(_ context.Context, s *Session, data json.RawMessage) (any, error) {
		if len(data) > 1024 {
			return nil, &Error{Code: CodeBadRequest, Message: "diag data over 1024 bytes"}
		}
		hd := s.Header()
		rep := diagReply{
			Echo:       data,
			Transport:  s.Transport(),
			ServerTime: time.Now().UnixMilli(),
			Headers: diagHeaders{
				Via:             hd.Get("Via") != "",
				ViaValue:        clip(hd.Get("Via"), 120),
				XForwardedFor:   hd.Get("X-Forwarded-For") != "",
				XForwardedProto: clip(strings.ToLower(hd.Get("X-Forwarded-Proto")), 16),
				XForwardedHost:  hd.Get("X-Forwarded-Host") != "",
				Forwarded:       hd.Get("Forwarded") != "",
				XRealIP:         hd.Get("X-Real-Ip") != "",
			},
		}
		if len(rep.Echo) == 0 {
			rep.Echo = json.RawMessage("null")
		}
		return rep, nil
	})
}

// clip cuts s to at most n bytes and drops anything but printable ASCII.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// pageAsset picks what a page's request asks for (diag, admin): its HTML, or the
// ?asset= named in types, with its content type. It answers a request for anything else
// itself (405, 404) and reports false.
func pageAsset(w http.ResponseWriter, r *http.Request, types map[string]string) (name, ctype string, ok bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return "", "", false
	}
	name, ctype = "index.html", "text/html; charset=utf-8"
	if a := r.URL.Query().Get("asset"); a != "" {
		t, found := types[a]
		if !found {
			http.NotFound(w, r)
			return "", "", false
		}
		name, ctype = a, t
	}
	return name, ctype, true
}
