package browsertest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// proxyMode is what a fault proxy does to the traffic between the browser and the app.
type proxyMode int

const (
	// stripUpgrade drops the Upgrade and Connection headers, as an HTTP/1.0 proxy does: the
	// server sees a plain GET on M/ws and refuses it.
	stripUpgrade proxyMode = iota
	// stallUpgrade answers the WebSocket upgrade itself with 101 and then passes nothing.
	stallUpgrade
	// bufferAll strips Upgrade and holds every response until it ends, as a buffering
	// proxy does: the xhr-streaming prelude never arrives.
	bufferAll
)

// proxy is a reverse proxy in front of an app, serving the page too (same origin).
type proxy struct {
	ts *httptest.Server
	tr *http.Transport

	mu    sync.Mutex
	conns []net.Conn // hijacked by stallUpgrade, closed at cleanup
}

func newProxy(t testing.TB, backend string, mode proxyMode) *proxy {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{tr: &http.Transport{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the app's same-origin check sees the page's host
		},
		Transport:     p.tr,
		FlushInterval: -1,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	if mode == bufferAll {
		rp.FlushInterval = 0
		rp.ModifyResponse = func(r *http.Response) error {
			b, err := io.ReadAll(r.Body) // until the response ends
			_ = r.Body.Close()
			if err != nil {
				return err
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
			r.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isWS := strings.HasSuffix(r.URL.Path, "/ws") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		switch {
		case isWS && mode == stallUpgrade:
			p.stall(w, r)
			return
		case mode == stripUpgrade || mode == bufferAll:
			r.Header.Del("Upgrade")
			r.Header.Del("Connection")
		}
		rp.ServeHTTP(w, r)
	})
	p.ts = httptest.NewServer(h)
	t.Cleanup(p.close)
	return p
}

// stall accepts a WebSocket upgrade with a valid 101 and then never sends a byte.
func (p *proxy) stall(w http.ResponseWriter, r *http.Request) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, conn)
	p.mu.Unlock()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n" +
		"Sec-WebSocket-Protocol: sockhop.v1\r\n\r\n")
	_ = brw.Flush()
	_, _ = io.Copy(io.Discard, bufio.NewReader(conn)) // swallow hello and all, until closed
	_ = conn.Close()
}

func (p *proxy) close() {
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.ts.CloseClientConnections()
	p.ts.Close()
	p.tr.CloseIdleConnections()
}
