package browsertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/faultproxy"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestResumeUnderCuts runs a ticker page behind a TCP proxy that cuts every connection after
// a random 0.2–1.5 s, and eight responses halfway, on each transport forced in turn: the server streams 2,000 numbered
// events at 200/s while the page sends 300 acked emits; the client resumes its session after
// every cut. The page sees each tick exactly once and in order, each emitWithAck resolves
// once with its own value, and the server handles each emit exactly once, in order, all in
// one session. The resume time (from the page's disconnect event to the resumed connect) is
// logged per transport.
func TestResumeUnderCuts(t *testing.T) {
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, name string) {
		a := newApp(t, sockhop.Options{}, "")
		rec := addTicker(t, a)
		p, err := faultproxy.New(a.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		tab := br.Open(t, "test", "http://"+p.Addr()+"/", browser.Viewport{})
		c := connect(t, tab, map[string]any{"transports": []string{name}, "ackTimeout": 60000})

		const ticks, emits = 2000, 300
		p.RandomCuts(200*time.Millisecond, 1500*time.Millisecond)
		// Most random cuts hit a connection between two requests, and the browser
		// retries on a new one without the page noticing; on a fast machine a run may
		// then see no resume at all. Cutting some responses halfway forces them (on
		// connections at least 300 ms old: not the ones a reconnect opens).
		forced := make(chan struct{})
		stopForcing := sync.OnceFunc(func() { close(forced) })
		defer stopForcing()
		go func() {
			tk := time.NewTicker(700 * time.Millisecond)
			defer tk.Stop()
			for range 8 {
				select {
				case <-tk.C:
					p.CutMidResponse(300 * time.Millisecond)
				case <-forced:
					return
				}
			}
		}()
		tab.Eval(fmt.Sprintf(`(() => {
			T.replies = {}; T.rejects = []; T.trace = []; T.wire = [];
			const realFetch = window.fetch;
			window.fetch = (url, init) => realFetch(url, init).then((r) => {
				const path = String(url).split('?')[0];
				if (!path.endsWith('/xhr_streaming') && !path.endsWith('/xhr')) return r;
				const rd = r.clone().body.getReader(), dec = new TextDecoder(), sid = String(url).split('/').slice(-2)[0];
				const pump = () => rd.read().then((c) => { if (c.done) return; for (const m of dec.decode(c.value).matchAll(/t\\":\\"ack\\",\\"id\\":(\d+)/g)) T.wire.push([Math.round(performance.now()), sid, +m[1]]); return pump(); }, () => {});
				pump();
				return r;
			});
			const tr = (...a) => { T.trace.push([Math.round(performance.now()), ...a]); if (T.trace.length > 3000) T.trace.shift(); };
			const msg = s.msg.bind(s), direct = s.direct.bind(s);
			s.msg = (m) => { if (m.t !== 'ev' || m.n !== 'tick') tr('<', m.t, m.id ?? m.d ?? m.r, s.rx, m.r); else if (m.d %% 100 === 0) tr('<tick', m.d, s.rx); return msg(m); };
			s.direct = (m) => { tr('>', m.t, JSON.stringify(m.resume || m.r)); return direct(m); };
			for (const ev of ['disconnect', 'connect']) s.on(ev, (x) => tr(ev, JSON.stringify(x)));
			s.emit('stream', {n: %d, every: 5});
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
		})()`, ticks, emits), nil)

		var res struct {
			Ticks   int     `json:"ticks"`
			Gaps    []int   `json:"gaps"`
			Replies int     `json:"replies"`
			Bad     []any   `json:"bad"`
			Rejects []any   `json:"rejects"`
			Log     [][]any `json:"log"`
			ID      string  `json:"id"`
		}
		_, waitErr := tab.Do(map[string]any{"op": "eval", "expr": fmt.Sprintf(`T.until(() => (T.got.tick || []).length >= %d && Object.keys(T.replies).length + T.rejects.length >= %d, 90000)`, ticks, emits)}, 100*time.Second)
		if waitErr != nil {
			t.Errorf("waiting for the ticks and replies: %.300s", waitErr)
		}
		p.RandomCuts(0, 0)
		stopForcing()
		tab.Eval(`new Promise((r) => setTimeout(r, 300)).then(() => {
			const got = T.got.tick || [];
			const gaps = [];
			got.forEach((v, i) => { if (v !== i && gaps.length < 20) gaps.push(i, v); });
			const bad = Object.entries(T.replies).filter(([k, v]) => v.length !== 1 || v[0] !== +k).slice(0, 20);
			return { ticks: got.length, gaps, replies: Object.keys(T.replies).length, bad, rejects: T.rejects.slice(0, 20),
				log: T.log.filter((e) => ['connect', 'disconnect', 'reconnecting', 'resume-failed'].includes(e[0])), id: s.id };
		})`, &res)

		_, cuts := p.Stats()
		if res.Ticks != ticks || len(res.Gaps) > 0 {
			t.Errorf("page got %d ticks, want %d in order; first mismatches (index, value): %v", res.Ticks, ticks, res.Gaps)
		}
		if res.Replies != emits || len(res.Bad) > 0 || len(res.Rejects) > 0 {
			t.Errorf("acks: %d replied, bad %v, rejected %v", res.Replies, res.Bad, res.Rejects)
		}
		if got := rec.values(); !isSeq(got, 0, emits) {
			t.Errorf("server handled %d emits, want %d once each in order: %v", len(got), emits, head(got))
		}
		if res.ID != c.ID || rec.sessions() != 1 {
			t.Errorf("session %s -> %s, %d sessions handled emits; want one session throughout", c.ID, res.ID, rec.sessions())
		}

		// Resume times: each disconnect to the next connect; all must be resumed.
		var times []int
		var down = -1
		resumes := 0
		for _, e := range res.Log {
			ms := int(e[1].(float64))
			switch e[0] {
			case "disconnect":
				down = ms
			case "resume-failed":
				t.Errorf("resume failed at %d ms", ms)
			case "connect":
				info, _ := e[2].(map[string]any)
				if down < 0 {
					continue
				}
				if info["resumed"] != true {
					t.Errorf("connect at %d ms did not resume: %v", ms, info)
				}
				resumes++
				times = append(times, ms-down)
				down = -1
			}
		}
		if resumes == 0 {
			t.Fatalf("no resume happened (%d cuts)\n%s", cuts, tab.LogText())
		}
		slices.Sort(times)
		t.Logf("%s: %d ticks and %d acked emits over %d connection cuts, %d resumes; resume time median %d ms, p99 %d ms (default backoff: a random 0–500 ms wait before the first attempt)",
			name, res.Ticks, res.Replies, cuts, resumes, pct(times, 50), pct(times, 99))
		if t.Failed() {
			var trace []any
			tab.Eval(`T.trace`, &trace)
			for _, l := range trace {
				t.Logf("trace %v", l)
			}
			var wire []any
			tab.Eval(`T.wire`, &wire)
			for _, l := range wire {
				t.Logf("wire %v", l)
			}
		}
		tab.Eval(`s.close()`, nil)
	})
}

// recorder is what the ticker app's handlers saw.
type recorder struct {
	mu   sync.Mutex
	vals []int
	sids map[string]bool
}

func (r *recorder) values() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.vals)
}

func (r *recorder) sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sids)
}

// addTicker adds the handlers of the resume test: "stream" starts n numbered "tick" events,
// one every `every` ms, from a goroutine (so that the session's other events are handled
// meanwhile); "rec" records its number and replies with it.
func addTicker(t *testing.T, a *app) *recorder {
	r := &recorder{sids: map[string]bool{}}
	sockhop.On(a.srv, "stream", func(_ context.Context, s *sockhop.Session, p struct{ N, Every int }) error {
		go func() {
			tk := time.NewTicker(time.Duration(p.Every) * time.Millisecond)
			defer tk.Stop()
			for i := range p.N {
				select {
				case <-tk.C:
				case <-s.Context().Done():
					return
				}
				if err := s.Emit(context.Background(), "tick", i); err != nil {
					t.Logf("stream stopped at %d: %v", i, err)
					return
				}
			}
		}()
		return nil
	})
	sockhop.OnRequest(a.srv, "rec", func(_ context.Context, s *sockhop.Session, n int) (int, error) {
		r.mu.Lock()
		r.vals = append(r.vals, n)
		r.sids[s.ID()] = true
		r.mu.Unlock()
		return n, nil
	})
	return r
}

// pct is the p-th percentile of sorted v (nearest rank).
func pct(v []int, p int) int {
	if len(v) == 0 {
		return 0
	}
	i := (len(v)*p + 99) / 100
	return v[max(0, min(len(v)-1, i-1))]
}
