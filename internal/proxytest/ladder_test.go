package proxytest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/proxyconf"
)

// The two proxies of issue 17 that cost the old client its fixed 3 s open timeout, and the
// connect times of the RTT-scaled, overlapping ladder behind them and behind the recipe.

// nginxHangingUpgrade is the recipe, except that /rt/ws goes to an upstream that answers
// the upgrade (101) and then passes nothing back: a proxy that accepts the WebSocket and
// hangs. RELAY stands for that upstream's address.
const nginxHangingUpgrade = `
        location /rt/ws {
            proxy_pass http://RELAY;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_read_timeout 1h;
        }
` + proxyconf.NginxRecipe

// oneWayRelay forwards TCP connections to backend, passing everything the client sends,
// but of the backend's answer only the HTTP response head: behind it a WebSocket upgrades
// (101), the hello reaches the server, and nothing the server sends comes back. It counts
// the connections it relayed.
type oneWayRelay struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	n     int
	wg    sync.WaitGroup
}

func startOneWayRelay(t testing.TB, backend string) *oneWayRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &oneWayRelay{l: l}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.serve(c, backend)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		for _, c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *oneWayRelay) serve(c net.Conn, backend string) {
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	r.mu.Lock()
	r.conns = append(r.conns, c, b)
	r.n++
	r.mu.Unlock()
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		_, _ = io.Copy(b, c) // the client's bytes all go through
		b.Close()
	}()
	go func() {
		defer r.wg.Done()
		defer c.Close()
		var head []byte
		buf := make([]byte, 4096)
		for {
			n, err := b.Read(buf)
			head = append(head, buf[:n]...)
			if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
				if _, err := c.Write(head[:i+4]); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, b) // the rest is swallowed
				return
			}
			if err != nil || len(head) > 1<<16 {
				return
			}
		}
	}()
}

func (r *oneWayRelay) relayed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// ladderRuns connects n times on the page, one session after the other with a fresh client
// (so a fresh round-trip measurement), each time recording the connect time, the transport,
// the transports the client opened (from the WebSocket constructor and the receiving
// requests it sent), and the timeout the ladder used; each session echoes once and closes.
const ladderRuns = `(async (n) => {
  const runs = [];
  let tried = null, t0 = 0;
  const note = (name) => { if (tried) tried.push([name, Math.round(performance.now() - t0)]); };
  const NativeWS = window.WebSocket;
  window.WebSocket = function (url, proto) { note('websocket'); return new NativeWS(url, proto); };
  window.WebSocket.prototype = NativeWS.prototype;
  const realFetch = window.fetch;
  window.fetch = (url, init) => {
    const p = String(url).split('?')[0];
    if (p.endsWith('/xhr_streaming')) note('xhr-streaming');
    else if (p.endsWith('/xhr')) note('xhr-polling');
    return realFetch(url, init);
  };
  for (let i = 0; i < n; i++) {
    tried = []; t0 = performance.now();
    const s = sockhop.connect('/rt', { rememberTransport: 0, upgradeAfter: 0 });
    await new Promise((res, rej) => { s.once('connect', res); setTimeout(() => rej(new Error('no connect within 15s')), 15000); });
    const ms = Math.round(performance.now() - t0);
    const r = { ms, transport: s.transport, tried: tried.slice() };
    r.echo = await s.emitWithAck('echo', 'run ' + i, { timeout: 5000 });
    // A new session's hello rides in the WebSocket upgrade (PROTOCOL.md §3), so the welcome
    // may come before the round trip measured beside the first transport (GET sockjs/info,
    // which re-arms a late transport's timer when it lands): wait for it, up to 3 s.
    for (let w = 0; s.rttMs == null && w < 60; w++) await new Promise((res) => setTimeout(res, 50));
    r.late = s.lateMs; r.rtt = s.rttMs;
    s.close();
    runs.push(r);
    await new Promise((res) => setTimeout(res, 150));
  }
  window.WebSocket = NativeWS; window.fetch = realFetch;
  return runs;
})(RUNS)`

type ladderRun struct {
	MS        int      `json:"ms"`
	Transport string   `json:"transport"`
	Tried     [][2]any `json:"tried"`
	Late      int      `json:"late"`
	RTT       float64  `json:"rtt"`
	Echo      string   `json:"echo"`
}

// runLadder loads the doctor through px (a page that serves the client), connects runs
// times, logs the connect times (median, max) and checks every run ended on want, having
// tried the transports of tried first, in order, with an RTT-scaled timeout.
func runLadder(t *testing.T, px *proxyServer, runs int, want string, tried []string) []ladderRun {
	t.Helper()
	page := openDoctor(t, px)
	var rs []ladderRun
	page.Eval(strings.Replace(ladderRuns, "RUNS", fmt.Sprint(runs), 1), &rs)
	var ms []int
	for i, r := range rs {
		ms = append(ms, r.MS)
		var names []string
		for _, tr := range r.Tried {
			names = append(names, fmt.Sprint(tr[0]))
		}
		t.Logf("run %d: %s in %d ms (tried %v, RTT %.1f ms, late after %d ms)", i, r.Transport, r.MS, r.Tried, r.RTT, r.Late)
		if r.Transport != want || r.Echo != fmt.Sprintf("run %d", i) {
			t.Errorf("run %d: ended on %s (echo %q); want %s", i, r.Transport, r.Echo, want)
		}
		names = slices.Compact(names) // a polling transport makes one request after the other
		// The transports of tried, in order; one more may have been started beside the
		// winner when it, too, was late (a loaded machine), as long as the winner is want.
		if len(names) < len(tried) || !slices.Equal(names[:len(tried)], tried) {
			t.Errorf("run %d: tried %v; want %v first", i, names, tried)
		}
		// The next transport starts after the RTT-scaled delay (250 ms + 3 round trips, at
		// least 300 ms), not after the 3 s open timeout, unless the round trip is so long
		// that the formula reaches it.
		if r.Late < 300 || r.Late >= 3000 && r.RTT < 900 {
			t.Errorf("run %d: the ladder waited %d ms for a late transport (RTT %.1f ms); want the RTT-scaled delay", i, r.Late, r.RTT)
		}
	}
	slices.Sort(ms)
	if len(ms) > 0 {
		t.Logf("connect times over %d runs: median %d ms, max %d ms (%v)", len(ms), ms[len(ms)/2], ms[len(ms)-1], ms)
	}
	if t.Failed() {
		px.dumpLogs(t)
		t.Logf("%s", page.LogText())
	}
	return rs
}

// TestLadderNginxHangingUpgrade: nginx accepts the WebSocket upgrade and then passes
// nothing back. The client starts xhr-streaming beside the silent WebSocket after the
// RTT-scaled delay, and ends on it; the WebSocket's session, which the server opened for
// its hello, is ended at once (it stops counting against the address).
func TestLadderNginxHangingUpgrade(t *testing.T) {
	t.Parallel()
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	relay := startOneWayRelay(t, be.addr)
	px := startNginx(t, bin["nginx"], be.addr, strings.ReplaceAll(nginxHangingUpgrade, "RELAY", relay.l.Addr().String()), nil)
	runLadder(t, px, 7, "xhr-streaming", []string{"websocket", "xhr-streaming"})
	if relay.relayed() == 0 {
		t.Fatal("no WebSocket went through the hanging relay")
	}
	// Every session is closed now: the losers too, without waiting for their resume grace.
	deadline := time.Now().Add(10 * time.Second)
	for be.srv.SessionCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := be.srv.SessionCount(); n > 0 {
		t.Errorf("%d sessions left after every page session closed: the abandoned WebSocket sessions were not released", n)
	}
}

// TestLadderNginxBuffering: nginx buffers every response whatever X-Accel-Buffering says.
// WebSocket is refused (the bare location passes no Upgrade), the stream delivers no byte,
// and the client starts polling beside it after the RTT-scaled delay.
func TestLadderNginxBuffering(t *testing.T) {
	t.Parallel()
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, nginxScanning, nil)
	runLadder(t, px, 7, "xhr-polling", []string{"websocket", "xhr-streaming", "xhr-polling"})
}

// TestLadderNginxRecipe is the control: behind the recipe the client ends on WebSocket
// and never starts another transport.
func TestLadderNginxRecipe(t *testing.T) {
	t.Parallel()
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, nginxRecipe, nil)
	runLadder(t, px, 7, "websocket", []string{"websocket"})
}

// TestNginxRewritesHostAllowedOrigins: the recipe without `proxy_set_header Host` (nginx
// sends the upstream's address as Host, which TestNginxWithoutHost shows refused) works
// when the server lists the public origin in AllowedOrigins, as the examples'
// -allow-origin flag does; here as the host pattern "127.0.0.1".
func TestNginxRewritesHostAllowedOrigins(t *testing.T) {
	t.Parallel()
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{AllowedOrigins: []string{"127.0.0.1"}})
	px := startNginx(t, bin["nginx"], be.addr, strings.Replace(nginxRecipe, "proxy_set_header Host $http_host;", "", 1), nil)
	runLadder(t, px, 3, "websocket", []string{"websocket"})
}
