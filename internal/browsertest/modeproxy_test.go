package browsertest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// modeProxy is a reverse proxy whose behaviour a test changes while sessions run through
// it, as the network of a laptop that moves between offices changes:
//   - blockWS refuses WebSocket upgrades (400, as a proxy that drops Upgrade does);
//   - bufferHTTP holds every response body until the response ends, as nginx with
//     proxy_buffering on and X-Accel-Buffering ignored does, from that moment on, for
//     responses already streaming too;
//   - stallWS holds what the server sends on WebSockets open or opened later (a middlebox
//     that froze them), passing the client's bytes on.
//
// Clearing a flag passes what was held.
type modeProxy struct {
	backend                      string
	blockWS, bufferHTTP, stallWS atomic.Bool
	srv                          *httptest.Server
	tr                           *http.Transport

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newModeProxy(t testing.TB, backend string) *modeProxy {
	t.Helper()
	p := &modeProxy{backend: backend, tr: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.srv.CloseClientConnections()
		testutil.Bounded(t, 30*time.Second, "the mode proxy's Close", func() {
			p.srv.Close()
			p.wg.Wait()
		})
		p.tr.CloseIdleConnections()
	})
	return p
}

func (p *modeProxy) addr() string { return p.srv.Listener.Addr().String() }

func (p *modeProxy) serve(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		if p.blockWS.Load() {
			http.Error(w, "upgrades refused by the test proxy", http.StatusBadRequest)
			return
		}
		p.tunnel(w, r)
		return
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.RequestURI = "http", p.backend, ""
	out.Host = r.Host
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	var held []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		held = append(held, buf[:n]...)
		if len(held) > 0 && !p.bufferHTTP.Load() {
			if _, werr := w.Write(held); werr != nil {
				return
			}
			_ = rc.Flush()
			held = held[:0]
		}
		if err != nil {
			break
		}
	}
	if len(held) > 0 {
		_, _ = w.Write(held)
	}
}

// tunnel relays a WebSocket upgrade to the backend as raw bytes.
func (p *modeProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	b, err := net.DialTimeout("tcp", p.backend, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		b.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, b)
	p.mu.Unlock()
	if err := r.Write(b); err != nil {
		c.Close()
		b.Close()
		return
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		_, _ = io.Copy(b, brw.Reader) // the client's bytes, those read ahead first
		b.Close()
	}()
	go func() {
		defer p.wg.Done()
		defer c.Close()
		p.relayHeld(c, b)
	}()
}

// relayHeld copies from to c, holding what arrives while stallWS is set; it checks the flag
// every 50 ms so that held bytes go on soon after it is cleared.
func (p *modeProxy) relayHeld(c net.Conn, from net.Conn) {
	ch := make(chan []byte, 64)
	go func() {
		defer close(ch)
		rd := bufio.NewReader(from)
		for {
			buf := make([]byte, 32<<10)
			n, err := rd.Read(buf)
			if n > 0 {
				ch <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	var held []byte
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case b, ok := <-ch:
			if !ok {
				return
			}
			held = append(held, b...)
		case <-tk.C:
		}
		if len(held) > 0 && !p.stallWS.Load() {
			if _, err := c.Write(held); err != nil {
				from.Close()
				for range ch {
				}
				return
			}
			held = held[:0]
		}
	}
}
