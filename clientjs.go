package sockhop

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the bundled browser client
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed client-js/dist/sockhop.min.js
var clientJSBundle []byte

//go:embed client-js/dist/sockhop.min.js.map
var clientJSMap []byte

// clientJS serves the embedded browser client with a content-hash ETag. A request carrying
// ?v=<hash> (see Server.ClientJSVersion) is cacheable for a year; others revalidate.
type clientJS struct {
	etag    string
	version string
	modTime time.Time
}

func newClientJS() *clientJS {
	sum := sha256.Sum256(clientJSBundle)
	v := hex.EncodeToString(sum[:8])
	return &clientJS{etag: `"` + v + `"`, version: v}
}

func (c *clientJS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("ETag", c.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == c.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "sockhop.js", c.modTime, bytes.NewReader(clientJSBundle))
}

func (c *clientJS) serveMap(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "sockhop.min.js.map", c.modTime, bytes.NewReader(clientJSMap))
}

// ClientJSVersion returns the content hash of the bundled browser client. Pages that load
// it as <mount>/sockhop.js?v=<version> let browsers cache it for a year.
func (srv *Server) ClientJSVersion() string {
	if srv.js == nil {
		return ""
	}
	return srv.js.version
}
