package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// consoleAssets is the console page of exec: index.html, console.js, console.css.
//
//go:embed console
var consoleAssets embed.FS

// consoleCSP allows nothing but this server: no inline script or style, no framing.
const consoleCSP = "default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleHandler serves the console at / (and its script and style beside it).
type consoleHandler struct {
	mount         string
	clientVersion string
	program       []string
	binary        bool
}

func (h *consoleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var name, ctype string
	switch r.URL.Path {
	case "/":
		name, ctype = "index.html", "text/html; charset=utf-8"
	case "/sockhop-console.js":
		name, ctype = "console.js", "text/javascript; charset=utf-8"
	case "/sockhop-console.css":
		name, ctype = "console.css", "text/css; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	b, err := consoleAssets.ReadFile("console/" + name)
	if err != nil {
		http.Error(w, "sockhop: console asset missing", http.StatusInternalServerError)
		return
	}
	if name == "index.html" {
		b = []byte(strings.NewReplacer(
			"{{mount}}", html.EscapeString(h.mount),
			"{{clientVersion}}", html.EscapeString(h.clientVersion),
			"{{program}}", html.EscapeString(strings.Join(h.program, " ")),
			"{{binary}}", strconv.FormatBool(h.binary),
		).Replace(string(b)))
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", consoleCSP)
	sum := sha256.Sum256(b)
	hd.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
