package browsertest

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
)

// TestCrossOriginKey: the bundled client on a page of one origin connects to a server on
// another (AllowedOrigins lists the page's) on both SockJS transports, with fetch() and
// with XMLHttpRequest. Every SockJS request carries the session key in X-Sockhop-Key, a
// header that is not CORS-safelisted: the browser asks first (a preflight), and the server
// must allow it for that origin, or nothing connects (PROTOCOL.md §7).
func TestCrossOriginKey(t *testing.T) {
	br := browser.Start(t)
	for _, name := range []string{"xhr-streaming", "xhr-polling"} {
		for _, query := range []string{"", "?nofetch"} {
			t.Run(name+query, func(t *testing.T) {
				page := newApp(t, sockhop.Options{}, "")
				api := newApp(t, sockhop.Options{AllowedOrigins: []string{page.ts.URL}}, "")
				var methods sync.Map // method -> *atomic.Int64: what a cross-origin session costs
				inner := api.ts.Config.Handler
				api.ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n, _ := methods.LoadOrStore(r.Method, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
					inner.ServeHTTP(w, r)
				})
				defer func() {
					count := func(m string) int64 {
						if n, ok := methods.Load(m); ok {
							return n.(*atomic.Int64).Load()
						}
						return 0
					}
					t.Logf("%s cross-origin: %d POST, %d OPTIONS (preflights)", name+query, count("POST"), count("OPTIONS"))
				}()
				tab := br.Open(t, "test", page.ts.URL+"/"+query, browser.Viewport{})
				var c connected
				tab.Eval(fmt.Sprintf(`new Promise((res, rej) => {
  const s = window.s = sockhop.connect(%q, { transports: [%q], reconnect: false });
  s.once('connect', () => res({ ms: 0, transport: s.transport, id: s.id }));
  s.on('error', (e) => rej(new Error('error: ' + (e && e.message))));
  setTimeout(() => rej(new Error('no connect within 10 s')), 10000);
})`, api.ts.URL+"/rt", name), &c)
				if c.Transport != name || api.srv.Session(c.ID) == nil {
					t.Fatalf("connected on %q as %q, want %s on the other origin's server", c.Transport, c.ID, name)
				}
				var echo string
				tab.Eval(`(async () => { for (let i = 0; i < 20; i++) await s.emitWithAck('echo', 'x' + i); return s.emitWithAck('echo', 'done'); })()`, &echo)
				if echo != "done" {
					t.Errorf("echo = %q, want done", echo)
				}
			})
		}
	}
}
