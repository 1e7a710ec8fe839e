package dial

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/transport"
)

// connectProxy is an HTTP proxy that only tunnels (CONNECT), counting the tunnels.
type connectProxy struct {
	connects atomic.Int64
	wg       sync.WaitGroup
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.connects.Add(1)
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusOK)
	// What net/http read ahead of the handler (its background read takes the first byte
	// the client sends) is in brw's reader: the tunnel starts with it.
	down, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _, _ = io.Copy(up, brw.Reader); up.Close() }()
	go func() { defer p.wg.Done(); _, _ = io.Copy(down, up); down.Close() }()
}

// TestWebSocketUsesClientProxy: the WebSocket dial goes through the proxy of
// Options.HTTPClient's transport, as the SockJS requests do, even to a loopback host
// (which http.ProxyFromEnvironment never proxies).
func TestWebSocketUsesClientProxy(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{"sockhop.v1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	px := &connectProxy{}
	pxs := httptest.NewServer(px)
	defer func() {
		pxs.CloseClientConnections()
		pxs.Close()
		px.wg.Wait()
	}()
	pu, err := url.Parse(pxs.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu)}
	defer tr.CloseIdleConnections()

	c, err := Dial(context.Background(), srv.URL+"/rt", transport.WebSocket, Options{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame([][]byte{[]byte(`"ping"`)}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.ReadFrame(); err != nil || string(p) != `"ping"` {
		t.Fatalf("read %q, %v; want the echo", p, err)
	}
	_ = c.Close(1000, "")
	if n := px.connects.Load(); n != 1 {
		t.Fatalf("the proxy tunnelled %d connections, want 1 (the WebSocket)", n)
	}

	// Without a proxy on the transport: the environment's, which never proxies loopback.
	tr2 := &http.Transport{}
	defer tr2.CloseIdleConnections()
	c, err = Dial(context.Background(), srv.URL+"/rt", transport.WebSocket, Options{HTTPClient: &http.Client{Transport: tr2}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close(1000, "")
	if n := px.connects.Load(); n != 1 {
		t.Fatalf("the proxy tunnelled %d connections, want still 1", n)
	}
}
