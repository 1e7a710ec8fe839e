package browsertest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// page is the test page: the client from <mount>/sockhop.js and a small harness T.
// With ?nofetch the page hides fetch(), as old browsers lack it: the client falls back to
// XMLHttpRequest.
const page = `<!doctype html><meta charset="utf-8"><title>sockhop browser test</title>
<script>
if (location.search.includes('nofetch')) { window.fetch = undefined; }
window.wsTries = 0; // WebSockets the client constructed
const NativeWS = window.WebSocket;
window.WebSocket = function (url, proto) { window.wsTries++; return new NativeWS(url, proto); };
window.WebSocket.prototype = NativeWS.prototype;
</script>
<script src="/rt/sockhop.js"></script>
<script>
window.T = {
  got: {}, log: [],
  start(opts) {
    const t0 = performance.now();
    const s = window.s = sockhop.connect('/rt', opts || {});
    const clean = (x) => x instanceof Error ? { code: x.code, message: x.message } : x;
    for (const ev of ['connect', 'disconnect', 'reconnecting', 'transport', 'error', 'resume-failed'])
      s.on(ev, (...a) => T.log.push([ev, Math.round(performance.now() - t0), ...a.map(clean)]));
    for (const ev of ['tick', 'note']) s.on(ev, (d) => (T.got[ev] = T.got[ev] || []).push(d));
    s.on('double', (d) => d * 2);
    return new Promise((res, rej) => {
      s.once('connect', () => res({ ms: Math.round(performance.now() - t0), transport: s.transport, id: s.id }));
      setTimeout(() => rej(new Error('no connect within 20 s: ' + JSON.stringify(T.log))), 20000);
    });
  },
  until(cond, ms) {
    return new Promise((res, rej) => {
      const end = performance.now() + (ms || 15000);
      const tick = () => {
        let v;
        try { v = cond(); } catch (e) { return rej(e); }
        if (v) return res(v);
        if (performance.now() > end) return rej(new Error('T.until timed out: ' + cond + ' ' + JSON.stringify(T.log)));
        setTimeout(tick, 10);
      };
      tick();
    });
  },
  count(ev) { return T.log.filter((e) => e[0] === ev).length; },
};
</script>`

// app is a sockhop server with the test handlers, in an httptest server that also serves
// the test page at /.
type app struct {
	t   testing.TB
	srv *sockhop.Server
	ts  *httptest.Server

	mu  sync.Mutex
	seq []int // "seq" events in the order handled, over all sessions

	stopOnce sync.Once
	// shutdownSlowOK logs instead of failing when Shutdown misses its deadline. Set only
	// by TestDeadServer: after a frozen xhr-polling connection the server's Shutdown does
	// not finish (a server issue, reported; it force-closes at the deadline, no leak).
	shutdownSlowOK bool
}

// newApp starts an app; on addr when not empty (a restart on the same port).
func newApp(t testing.TB, opts sockhop.Options, addr string) *app {
	t.Helper()
	if opts.MessageRate == 0 {
		opts.MessageRate = -1 // the tests send 1,000 messages at once on purpose
	}
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, srv: srv}
	sockhop.OnRequest(srv, "echo", func(_ context.Context, _ *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
		return v, nil
	})
	sockhop.OnRequest(srv, "fail", func(context.Context, *sockhop.Session, json.RawMessage) (any, error) {
		return nil, &sockhop.Error{Code: "nope", Message: "refused on purpose"}
	})
	sockhop.On(srv, "seq", func(_ context.Context, _ *sockhop.Session, n int) error {
		a.mu.Lock()
		a.seq = append(a.seq, n)
		a.mu.Unlock()
		return nil
	})
	sockhop.On(srv, "burst", func(ctx context.Context, s *sockhop.Session, n int) error {
		for i := range n {
			if err := s.Emit(ctx, "tick", i); err != nil {
				return err
			}
		}
		return nil
	})
	// bulk sends n events of about 250 bytes: more than the 128 KiB after which the server
	// ends an xhr-streaming response, so the client must reopen the stream.
	sockhop.On(srv, "bulk", func(ctx context.Context, s *sockhop.Session, n int) error {
		pad := strings.Repeat("x", 200)
		for i := range n {
			if err := s.Emit(ctx, "note", map[string]any{"i": i, "pad": pad}); err != nil {
				return err
			}
		}
		return nil
	})
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})
	a.ts = httptest.NewUnstartedServer(mux)
	if addr != "" {
		l, err := listenRetry(addr)
		if err != nil {
			t.Fatal(err)
		}
		a.ts.Listener = l
	}
	a.ts.Start()
	t.Cleanup(a.stop)
	return a
}

// listenRetry listens on addr, retrying briefly while the old listener's port is released.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// stop shuts the app down (once; cleanup calls it too).
func (a *app) stop() { a.stopOnce.Do(a.shutdown) }

func (a *app) shutdown() {
	// Generous: a SockJS session whose client went away waits up to SockJSDisconnectDelay.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		if a.shutdownSlowOK {
			a.t.Logf("Shutdown: %v (known server issue after a frozen connection)", err)
		} else {
			a.t.Errorf("Shutdown: %v", err)
		}
	}
	// Then net/http's, as README says a server stops: it lets the answers in flight finish.
	// The poll that carries a session's close message has its handler return before
	// net/http writes the answer's last chunk; killing its connection at once loses that
	// chunk, and the client reports 1006 where the server said 1001.
	hctx, hcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = a.ts.Config.Shutdown(hctx)
	hcancel()
	// httptest's Close waits for every handler; one that a Shutdown past its deadline left
	// running would hold the package until go test's timeout.
	a.ts.CloseClientConnections()
	testutil.Bounded(a.t, 30*time.Second, "the app's httptest server Close", a.ts.Close)
}

func (a *app) seqs() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.seq...)
}

// connected is what T.start resolves to.
type connected struct {
	MS        int    `json:"ms"`
	Transport string `json:"transport"`
	ID        string `json:"id"`
}

// connect runs T.start(opts) in tab and fails t unless the client connects, on the one
// transport opts forces when it forces one.
func connect(t *testing.T, tab *browser.Page, opts map[string]any) connected {
	t.Helper()
	b, _ := json.Marshal(opts)
	var c connected
	tab.Eval("T.start("+string(b)+")", &c)
	if trs, _ := opts["transports"].([]string); len(trs) == 1 && c.Transport != trs[0] {
		t.Fatalf("connected on %q, want %q\n%s", c.Transport, trs[0], tab.LogText())
	}
	return c
}
