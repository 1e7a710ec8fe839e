package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// Moving a live session between transports (issue 17): every switch through a resume, the
// background upgrade and the live downgrade, each under traffic both ways, with nothing
// lost, nothing duplicated and no disconnect.

// startTraffic makes the server stream ticks 0…ticks-1, one every `every` ms, while the
// page sends emits acked "rec" events, one every 20 ms.
func startTraffic(tab *browser.Page, ticks, every, emits int) {
	tab.Eval(fmt.Sprintf(`(() => {
		T.replies = {}; T.rejects = [];
		s.emit('stream', {n: %d, every: %d});
		let i = 0;
		const next = () => {
			if (i >= %d) return;
			const n = i++;
			s.emitWithAck('rec', n).then(
				(v) => { T.replies[n] = (T.replies[n] || []).concat([v]); },
				(e) => T.rejects.push([n, e.code]));
			setTimeout(next, 20);
		};
		next();
		return true;
	})()`, ticks, every, emits), nil)
}

// trafficResult is what the page saw of the traffic.
type trafficResult struct {
	Ticks      int     `json:"ticks"`
	Gaps       []int   `json:"gaps"`
	Replies    int     `json:"replies"`
	Bad        []any   `json:"bad"`
	Rejects    []any   `json:"rejects"`
	Log        [][]any `json:"log"`
	ID         string  `json:"id"`
	Transports []any   `json:"transports"`
}

// finishTraffic waits for every tick and reply, then checks that each tick arrived once and
// in order, each emit was handled by the server once and in order and replied to once, all
// in one session, and that the page saw one connect and no disconnect: the switches were
// invisible but for their transport events, which it returns.
func finishTraffic(t *testing.T, tab *browser.Page, rec *recorder, c connected, ticks, emits int) trafficResult {
	t.Helper()
	_, err := tab.Do(map[string]any{"op": "eval", "expr": fmt.Sprintf(`T.until(() => (T.got.tick || []).length >= %d && Object.keys(T.replies).length + T.rejects.length >= %d, 60000)`, ticks, emits)}, 70*time.Second)
	if err != nil {
		t.Errorf("waiting for the ticks and replies: %.300s", err)
	}
	var res trafficResult
	tab.Eval(`new Promise((r) => setTimeout(r, 300)).then(() => {
		const got = T.got.tick || [];
		const gaps = [];
		got.forEach((v, i) => { if (v !== i && gaps.length < 20) gaps.push(i, v); });
		const bad = Object.entries(T.replies).filter(([k, v]) => v.length !== 1 || v[0] !== +k).slice(0, 20);
		return { ticks: got.length, gaps, replies: Object.keys(T.replies).length, bad, rejects: T.rejects.slice(0, 20),
			log: T.log.filter((e) => e[0] !== 'transport'), id: s.id,
			transports: T.log.filter((e) => e[0] === 'transport').map((e) => [e[2], e[1]]) };
	})`, &res)
	lost, dup := 0, 0
	if res.Ticks < ticks {
		lost = ticks - res.Ticks
	} else {
		dup = res.Ticks - ticks
	}
	if res.Ticks != ticks || len(res.Gaps) > 0 {
		t.Errorf("page got %d ticks, want %d once each in order; first mismatches (index, value): %v", res.Ticks, ticks, res.Gaps)
	}
	if res.Replies != emits || len(res.Bad) > 0 || len(res.Rejects) > 0 {
		t.Errorf("acks: %d replied, bad %v, rejected %v", res.Replies, res.Bad, res.Rejects)
	}
	got := rec.values()
	if !isSeq(got, 0, emits) {
		t.Errorf("server handled %d emits, want %d once each in order: %v", len(got), emits, head(got))
		if len(got) > emits {
			dup += len(got) - emits
		} else {
			lost += emits - len(got)
		}
	}
	if res.ID != c.ID || rec.sessions() != 1 {
		t.Errorf("session %s -> %s, %d sessions handled emits; want one session throughout", c.ID, res.ID, rec.sessions())
	}
	for _, e := range res.Log {
		if name, _ := e[0].(string); name != "connect" || len(res.Log) > 1 {
			t.Errorf("page events besides the transport changes: %v; want one connect, no disconnect", res.Log)
			break
		}
	}
	t.Logf("%d ticks, %d acked emits: lost %d, duplicated %d; transports (name, ms): %v", res.Ticks, res.Replies, lost, dup, res.Transports)
	if t.Failed() {
		t.Logf("%s", tab.LogText())
	}
	return res
}

// waitTransport waits until the page's client is connected on name.
func waitTransport(t *testing.T, tab *browser.Page, name string, within time.Duration) {
	t.Helper()
	_, err := tab.Do(map[string]any{"op": "eval", "expr": fmt.Sprintf(`T.until(() => s.transport === %q && s.state === 'connected', %d)`, name, within.Milliseconds())}, within+10*time.Second)
	if err != nil {
		t.Fatalf("the session did not move to %s: %.500s\n%s", name, err, tab.LogText())
	}
}

// TestResumeAcrossSwitches moves one session, under traffic both ways, along a tour that
// takes every switch between the three transports once (WebSocket ↔ xhr-streaming ↔
// xhr-polling, both ways), starting from each transport in turn.
func TestResumeAcrossSwitches(t *testing.T) {
	t.Parallel()
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, start string) {
		var others []string
		for _, n := range testutil.Transports {
			if n != start {
				others = append(others, n)
			}
		}
		// start→a→b→start→b→a→start: all six directed switches.
		a, b := others[0], others[1]
		tour := []string{a, b, start, b, a, start}
		app := newApp(t, sockhop.Options{}, "")
		rec := addTicker(t, app)
		tab := br.Open(t, "test", app.ts.URL+"/", browser.Viewport{})
		c := connect(t, tab, map[string]any{"transports": []string{start}, "ackTimeout": 60000, "upgradeAfter": 0})
		const ticks, emits = 1500, 250
		startTraffic(tab, ticks, 4, emits)
		for _, to := range tour {
			time.Sleep(500 * time.Millisecond)
			// migrate again while no switch is under way: on a loaded machine a switch
			// may time out, which leaves the session where it was (nothing lost).
			_, err := tab.Do(map[string]any{"op": "eval", "expr": fmt.Sprintf(`T.until(() => { if (s.transport !== %[1]q) s.migrate(%[1]q); return s.transport === %[1]q && s.state === 'connected'; }, 20000)`, to)}, 30*time.Second)
			if err != nil {
				t.Fatalf("the session did not move to %s: %.500s\n%s", to, err, tab.LogText())
			}
		}
		res := finishTraffic(t, tab, rec, c, ticks, emits)
		var seen []string
		for _, e := range res.Transports {
			seen = append(seen, fmt.Sprint(e.([]any)[0]))
		}
		if want := append([]string{start}, tour...); strings.Join(seen, " ") != strings.Join(want, " ") {
			t.Errorf("transport events %v; want %v", seen, want)
		}
		tab.Eval(`s.close()`, nil)
	})
}

// TestBackgroundUpgrade: behind a proxy that refuses WebSocket upgrades the client ends on
// xhr-streaming; once the proxy passes upgrades, the session's background probe moves it
// onto WebSocket under traffic, through a resume, and the page remembers WebSocket.
func TestBackgroundUpgrade(t *testing.T) {
	t.Parallel()
	br := browser.Start(t)
	app := newApp(t, sockhop.Options{}, "")
	rec := addTicker(t, app)
	px := newModeProxy(t, app.ts.Listener.Addr().String())
	px.blockWS.Store(true)
	tab := br.Open(t, "test", "http://"+px.addr()+"/", browser.Viewport{})
	c := connect(t, tab, map[string]any{"ackTimeout": 60000, "upgradeAfter": 1000})
	if c.Transport != "xhr-streaming" {
		t.Fatalf("connected on %s behind a proxy that refuses upgrades; want xhr-streaming", c.Transport)
	}
	const ticks, emits = 1500, 250
	startTraffic(tab, ticks, 4, emits)
	px.blockWS.Store(false)
	waitTransport(t, tab, "websocket", 20*time.Second)
	res := finishTraffic(t, tab, rec, c, ticks, emits)
	if len(res.Transports) != 2 {
		t.Errorf("transport events %v; want xhr-streaming, then websocket", res.Transports)
	}
	var remembered string
	tab.Eval(`JSON.parse(localStorage.getItem('sockhop.transport:' + location.origin + '/rt') || '{}').t || ''`, &remembered)
	if remembered != "websocket" {
		t.Errorf("remembered transport %q after the upgrade; want websocket", remembered)
	}
	tab.Eval(`s.close()`, nil)
}

// TestLiveDowngrade: a stream that stops delivering mid-session (a middlebox freezes the
// WebSocket; a proxy starts buffering the xhr-streaming response) is noticed by a pong the
// client asked for and did not get, long before the heartbeat timeout, and the session
// moves one transport down through a resume, under traffic.
func TestLiveDowngrade(t *testing.T) {
	t.Parallel()
	br := browser.Start(t)
	for _, tc := range []struct {
		from, to   string
		transports []string
		stall      func(p *modeProxy, on bool)
	}{
		{"websocket", "xhr-streaming", nil, func(p *modeProxy, on bool) { p.stallWS.Store(on) }},
		{"xhr-streaming", "xhr-polling", []string{"xhr-streaming", "xhr-polling"}, func(p *modeProxy, on bool) { p.bufferHTTP.Store(on) }},
	} {
		t.Run(tc.from, func(t *testing.T) {
			// Heartbeat (ping+pong) 7 s: the client checks a quiet stream after 2.5 s (a server ping overdue).
			app := newApp(t, sockhop.Options{PingInterval: 2 * time.Second, PongTimeout: 5 * time.Second}, "")
			rec := addTicker(t, app)
			px := newModeProxy(t, app.ts.Listener.Addr().String())
			tab := br.Open(t, "test", "http://"+px.addr()+"/", browser.Viewport{})
			opts := map[string]any{"ackTimeout": 60000, "upgradeAfter": 0, "rememberTransport": 0}
			if tc.transports != nil {
				opts["transports"] = tc.transports
			}
			c := connect(t, tab, opts)
			if c.Transport != tc.from {
				t.Fatalf("connected on %s; want %s", c.Transport, tc.from)
			}
			const ticks, emits = 1500, 250
			startTraffic(tab, ticks, 4, emits)
			time.Sleep(time.Second)
			tc.stall(px, true)
			t0 := time.Now()
			waitTransport(t, tab, tc.to, 30*time.Second)
			t.Logf("moved from %s to %s %v after the stream stalled", tc.from, tc.to, time.Since(t0).Round(time.Millisecond))
			finishTraffic(t, tab, rec, c, ticks, emits)
			tc.stall(px, false)
			tab.Eval(`s.close()`, nil)
		})
	}
}
