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

// idleOutcome is what one case of TestIdleCutsLearned saw.
type idleOutcome struct {
	firstAt time.Duration // the first cut, after the connect
	later   []int64       // ms after the connect of every cut after the first
	pings   []int64       // Chromium: the server's ping interval of each connect (ms)
	ids     []string      // the session ids seen (after the connect, after the hold)
	echo    string        // an echo through the session after the hold
	learned time.Duration // Go client: the interval it asks for
	diag    struct {      // Chromium: the diag page run again after the hold
		ServerMS  int64 `json:"server_ms"`
		LearnedMS int64 `json:"learned_ms"`
		CutMS     int64 `json:"cut_ms"`
	}
	err error
}

// TestIdleCutsLearned: behind nginx with proxy_read_timeout 10 s and 20 s, under the
// server's 25 s pings, every transport is cut once; the client (Chromium's and the Go
// client) learns from that cut and asks for a shorter ping interval, and no further cut
// comes in three idle minutes, the session the same throughout. The twelve cases run at
// once, in goroutines (t.Parallel would run two at a time on two cores), and report as
// subtests at the end: the test costs one idle hold, about four minutes.
func TestIdleCutsLearned(t *testing.T) {
	t.Parallel()
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{}) // the default 25 s pings, 5 s minimum
	b := browser.Start(t)
	var bmu sync.Mutex // the browser's pages are driven one command at a time
	eval := func(p *browser.Page, expr string, out any) error {
		bmu.Lock()
		defer bmu.Unlock()
		v, err := p.Do(map[string]any{"op": "eval", "expr": expr}, 30*time.Second)
		if err != nil {
			return err
		}
		return json.Unmarshal(v, out)
	}
	type idleCase struct {
		name string
		idle int
		px   *proxyServer
		out  idleOutcome
	}
	var cases []*idleCase
	var wg sync.WaitGroup
	for _, idle := range []int{10, 20} {
		px := startNginx(t, bin["nginx"], be.addr, strings.Replace(nginxShortTimeout, "proxy_read_timeout 5s;", fmt.Sprintf("proxy_read_timeout %ds;", idle), 1), nil)
		firstBy := time.Duration(idle)*time.Second + 40*time.Second // a bound for the first cut, not a measurement
		for _, tr := range testutil.Transports {
			// Chromium: the page starts its client, and the goroutine only reads what it saw.
			c := &idleCase{name: fmt.Sprintf("nginx%ds/%s/chromium", idle, tr), idle: idle, px: px}
			cases = append(cases, c)
			p := b.Open(t, fmt.Sprintf("idle-%d-%s", idle, tr), px.url+mount+"/diag", browser.Viewport{Width: 800, Height: 600})
			p.WaitWithin(time.Minute, "window.sockhopDiag")
			p.Eval(strings.Replace(idleStart, "TR", tr, 1), nil)
			wg.Go(func() { c.out = idleChromium(p, eval, firstBy) })
			// The Go client.
			g := &idleCase{name: fmt.Sprintf("nginx%ds/%s/go", idle, tr), idle: idle, px: px}
			cases = append(cases, g)
			wg.Go(func() { g.out = idleGo(px.url+mount, tr, firstBy) })
		}
	}
	wg.Wait()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.out
			if o.err != nil {
				c.px.dumpLogs(t)
				t.Fatal(o.err)
			}
			learned := fmt.Sprintf("server ping per connect %v ms", o.pings)
			if strings.HasSuffix(c.name, "/go") {
				learned = fmt.Sprintf("the Go client asks for %v", o.learned)
			} else {
				learned += fmt.Sprintf("; diag page: %+v", o.diag)
				if o.diag.LearnedMS <= 0 || o.diag.LearnedMS >= int64(c.idle)*1000 || o.diag.ServerMS != o.diag.LearnedMS {
					t.Errorf("the diag page reports %+v, want the learned interval under %d s, the server using it", o.diag, c.idle)
				}
			}
			t.Logf("%s: first cut after %.1fs; then %d cuts in %v idle; %s; sessions %v",
				c.name, o.firstAt.Seconds(), len(o.later), idleHold, learned, o.ids)
			if len(o.later) > 0 {
				c.px.dumpLogs(t)
				t.Errorf("%d cuts after the first (at %v ms after the connect), want none", len(o.later), o.later)
			}
			if n := len(o.pings); n > 0 && o.pings[n-1] >= int64(c.idle)*1000 {
				t.Errorf("ping interval %d ms after the cut, want under %d s", o.pings[n-1], c.idle)
			}
			if strings.HasSuffix(c.name, "/go") && (o.learned <= 0 || o.learned >= time.Duration(c.idle)*time.Second) {
				t.Errorf("the Go client asks for %v, want under the %ds cut", o.learned, c.idle)
			}
			for _, id := range o.ids {
				if id != o.ids[0] || id == "" {
					t.Errorf("sessions %v: want one session throughout", o.ids)
					break
				}
			}
			if o.echo != "still here" {
				t.Errorf("echo %q after the idle hold", o.echo)
			}
		})
	}
}

// idleChromium waits for the first cut the page's client saw, holds idleHold, and reads
// what happened meanwhile.
func idleChromium(p *browser.Page, eval func(*browser.Page, string, any) error, firstBy time.Duration) (o idleOutcome) {
	var r idleResult
	for deadline := time.Now().Add(firstBy); len(r.Drops) == 0; time.Sleep(2 * time.Second) {
		if time.Now().After(deadline) {
			o.err = fmt.Errorf("no idle cut within %v", firstBy)
			return o
		}
		if o.err = eval(p, "window.__idle", &r); o.err != nil {
			return o
		}
	}
	o.firstAt = time.Duration(r.Drops[0].At) * time.Millisecond
	time.Sleep(idleHold)
	o.err = eval(p, `(async () => ({ ...window.__idle, echo: await window.__idleSock.emitWithAck('echo', 'still here', { timeout: 10000 }) }))()`, &r)
	for _, d := range r.Drops[1:] {
		o.later = append(o.later, d.At)
	}
	o.pings, o.ids, o.echo = r.Pings, r.IDs, r.Echo
	if o.err == nil {
		// The doctor, run again, reports what this browser learned.
		o.err = eval(p, `(async () => {
			document.getElementById('again').click();
			for (let i = 0; i < 600 && !window.sockhopDiag; i++) await new Promise((r) => setTimeout(r, 100));
			return window.sockhopDiag ? window.sockhopDiag.heartbeat : null;
		})()`, &o.diag)
	}
	return o
}

// idleGo is idleChromium with the Go client.
func idleGo(url, tr string, firstBy time.Duration) (o idleOutcome) {
	var mu sync.Mutex
	var drops []time.Time
	c := client.New(url, client.Options{Transports: []string{tr}})
	c.OnDisconnect(func(error) {
		mu.Lock()
		drops = append(drops, time.Now())
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if o.err = c.Connect(ctx); o.err != nil {
		return o
	}
	defer c.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(drops)
	}
	for deadline := time.Now().Add(firstBy); count() == 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			o.err = fmt.Errorf("no idle cut within %v", firstBy)
			return o
		}
	}
	// The resume after the cut: a bounded wait for the connection back.
	for deadline := time.Now().Add(30 * time.Second); c.Transport() == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
	}
	o.ids = append(o.ids, c.SessionID())
	time.Sleep(idleHold)
	o.ids = append(o.ids, c.SessionID())
	ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ecancel()
	echo, err := c.EmitWithAck(ectx, "echo", "still here")
	if err != nil {
		o.err = fmt.Errorf("echo after %v idle: %w", idleHold, err)
		return o
	}
	_ = json.Unmarshal(echo, &o.echo)
	o.learned, _ = c.PingInterval()
	mu.Lock()
	defer mu.Unlock()
	o.firstAt = drops[0].Sub(start)
	for _, d := range drops[1:] {
		o.later = append(o.later, d.Sub(start).Milliseconds())
	}
	return o
}
