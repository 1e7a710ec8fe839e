package proxytest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// idleHold is how long each case of TestIdleCutsLearned stays idle after the first cut.
const idleHold = 3 * time.Minute

// idleStart connects on one transport (TR) and records every disconnect, the ping
// interval of each connect and the session ids, in window.__idle.
const idleStart = `(() => {
  const r = { drops: [], pings: [], ids: [], t0: Date.now() };
  const s = sockhop.connect('/rt', { transports: ['TR'], rememberTransport: 0 });
  s.on('connect', () => { r.pings.push(s.pingInterval); r.ids.push(s.id); });
  s.on('disconnect', (d) => r.drops.push({ at: Date.now() - r.t0, code: d.code }));
  window.__idle = r; window.__idleSock = s;
  return true;
})()`

// idleResult is window.__idle, with an echo through the session at the end.
type idleResult struct {
	Drops []struct {
		At   int64 `json:"at"`
		Code int   `json:"code"`
	} `json:"drops"`
	Pings []int64  `json:"pings"`
	IDs   []string `json:"ids"`
	Echo  string   `json:"echo"`
}

// TestIdleCutsLearned: behind nginx with proxy_read_timeout 10 s and 20 s, under the
// server's 25 s pings, every transport is cut once; the client (Chromium's and the Go
// client) learns from that cut and asks for a shorter ping interval, and no further cut
// comes in three idle minutes, the session the same throughout. All cases run in parallel.
func TestIdleCutsLearned(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{}) // the default 25 s pings, 5 s minimum
	b := browser.Start(t)
	var mu sync.Mutex // one browser: its pages are driven one command at a time anyway
	for _, idle := range []int{10, 20} {
		px := startNginx(t, bin["nginx"], be.addr, strings.Replace(nginxShortTimeout, "proxy_read_timeout 5s;", fmt.Sprintf("proxy_read_timeout %ds;", idle), 1), nil)
		firstBy := time.Duration(idle)*time.Second + 40*time.Second // a bound for the first cut, not a measurement
		for _, tr := range testutil.Transports {
			t.Run(fmt.Sprintf("nginx%ds/%s/chromium", idle, tr), func(t *testing.T) {
				t.Parallel()
				mu.Lock()
				p := b.Open(t, fmt.Sprintf("idle-%d-%s", idle, tr), px.url+mount+"/diag", browser.Viewport{Width: 800, Height: 600})
				p.WaitWithin(time.Minute, "window.sockhopDiag")
				p.Eval(strings.Replace(idleStart, "TR", tr, 1), nil)
				mu.Unlock()
				read := func(echo bool) idleResult {
					mu.Lock()
					defer mu.Unlock()
					var r idleResult
					expr := "window.__idle"
					if echo {
						expr = `(async () => ({ ...window.__idle, echo: await window.__idleSock.emitWithAck('echo', 'still here', { timeout: 10000 }) }))()`
					}
					p.Eval(expr, &r)
					return r
				}
				var r idleResult
				for deadline := time.Now().Add(firstBy); len(r.Drops) == 0; time.Sleep(2 * time.Second) {
					if time.Now().After(deadline) {
						px.dumpLogs(t)
						t.Fatalf("no idle cut within %v: %+v", firstBy, r)
					}
					r = read(false)
				}
				first := r.Drops[0]
				time.Sleep(idleHold)
				r = read(true)
				t.Logf("nginx %ds, %s, Chromium: first cut after %.1fs (code %d); then %d cuts in %v idle; ping intervals per connect %v ms; sessions %v",
					idle, tr, float64(first.At)/1000, first.Code, len(r.Drops)-1, idleHold, r.Pings, r.IDs)
				checkIdle(t, px, r.Drops[1:], r.Pings, r.IDs, r.Echo, idle)
			})
			t.Run(fmt.Sprintf("nginx%ds/%s/go", idle, tr), func(t *testing.T) {
				t.Parallel()
				var cmu sync.Mutex
				var drops []time.Time
				c := client.New(px.url+mount, client.Options{Transports: []string{tr}, Header: map[string][]string{"Origin": {px.url}}})
				var pings []int64
				var ids []string
				c.OnDisconnect(func(error) {
					cmu.Lock()
					drops = append(drops, time.Now())
					cmu.Unlock()
				})
				c.OnConnect(func() {
					d, _ := c.PingInterval()
					cmu.Lock()
					pings = append(pings, d.Milliseconds())
					cmu.Unlock()
				})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := c.Connect(ctx); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				start := time.Now()
				count := func() int {
					cmu.Lock()
					defer cmu.Unlock()
					return len(drops)
				}
				for deadline := time.Now().Add(firstBy); count() == 0; time.Sleep(time.Second) {
					if time.Now().After(deadline) {
						t.Fatalf("no idle cut within %v", firstBy)
					}
				}
				cmu.Lock()
				firstAt := drops[0].Sub(start)
				cmu.Unlock()
				ids = append(ids, c.SessionID())
				time.Sleep(idleHold)
				ids = append(ids, c.SessionID())
				ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer ecancel()
				echo, err := c.EmitWithAck(ectx, "echo", "still here")
				if err != nil {
					t.Fatalf("echo after %v idle: %v", idleHold, err)
				}
				var s string
				_ = json.Unmarshal(echo, &s)
				learned, cuts := c.PingInterval()
				cmu.Lock()
				later := make([]struct {
					At   int64 `json:"at"`
					Code int   `json:"code"`
				}, len(drops)-1)
				for i, d := range drops[1:] {
					later[i].At = d.Sub(start).Milliseconds()
				}
				ps := append([]int64(nil), pings...)
				cmu.Unlock()
				t.Logf("nginx %ds, %s, Go client: first cut after %.1fs; then %d cuts in %v idle; learned %v from %d cut(s); asked per connect %v ms",
					idle, tr, firstAt.Seconds(), len(later), idleHold, learned, cuts, ps)
				checkIdle(t, px, later, nil, ids, s, idle)
				if learned <= 0 || learned >= time.Duration(idle)*time.Second {
					t.Errorf("learned interval %v, want under the %ds cut", learned, idle)
				}
			})
		}
	}
}

// checkIdle fails t unless no cut came after the first, the session stayed the same and an
// echo went through; pings (when known) are the server's intervals per connect: the last
// under the proxy's idle timeout.
func checkIdle(t *testing.T, px *proxyServer, later []struct {
	At   int64 `json:"at"`
	Code int   `json:"code"`
}, pings []int64, ids []string, echo string, idle int) {
	t.Helper()
	if len(later) > 0 {
		px.dumpLogs(t)
		t.Errorf("%d cuts after the first (at %+v ms), want none", len(later), later)
	}
	if len(pings) > 0 && pings[len(pings)-1] >= int64(idle)*1000 {
		t.Errorf("ping interval %d ms after the cut, want under %d s", pings[len(pings)-1], idle)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("sessions %v: want one session throughout", ids)
			break
		}
	}
	if echo != "still here" {
		t.Errorf("echo %q after the idle hold", echo)
	}
}
