package browsertest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// lifecycleApp is an app whose sessions join the room "all", keep a name (remember,
// recall), and tell the room when one ends ("left", with its id and close code). grace is
// its GoingAwayGrace (0: the default 1 s); the resume grace is the default 2 minutes.
func lifecycleApp(t *testing.T, grace time.Duration) (*app, chan [2]any) {
	a := newApp(t, sockhop.Options{GoingAwayGrace: grace}, "")
	ended := make(chan [2]any, 16)
	a.srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "all") })
	sockhop.OnRequest(a.srv, "remember", func(_ context.Context, s *sockhop.Session, name string) (bool, error) {
		s.Set("name", name)
		return true, nil
	})
	sockhop.OnRequest(a.srv, "recall", func(_ context.Context, s *sockhop.Session, _ any) (string, error) {
		v, _ := s.Get("name")
		name, _ := v.(string)
		return name, nil
	})
	a.srv.OnDisconnect(func(s *sockhop.Session, reason error) {
		code := sockhop.CloseCode(reason)
		ended <- [2]any{s.ID(), code}
		_ = a.srv.To("all").Emit(context.Background(), "note", map[string]any{"left": s.ID(), "code": code})
	})
	return a, ended
}

// TestTabCloseLeavesAtOnce: a tab that closes ends its session within the going-away grace
// (1 s), not the resume grace (2 minutes): another tab in the same room sees it leave, on
// every transport. The time from the close to the other tab's notice is logged.
func TestTabCloseLeavesAtOnce(t *testing.T) {
	t.Parallel()
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		a, ended := lifecycleApp(t, 0)
		opts := map[string]any{"transports": []string{tr}, "keepSession": true, "rememberTransport": 0}
		watcher := br.Open(t, "watcher", a.ts.URL+"/", browser.Viewport{})
		connect(t, watcher, opts)
		tab := br.Open(t, "tab", a.ts.URL+"/", browser.Viewport{})
		c := connect(t, tab, opts)
		start := time.Now()
		tab.CloseTab()
		// Bounded well under the 2 minute resume grace a tab that closed without a word gets.
		watcher.WaitWithin(30*time.Second, `(T.got.note || []).some((n) => n.left === '`+c.ID+`')`)
		took := time.Since(start)
		var note struct {
			Code int `json:"code"`
		}
		watcher.Eval(`(T.got.note || []).find((n) => n.left === '`+c.ID+`')`, &note)
		t.Logf("%s: a closed tab's session left the room %v after the close (code %d)", tr, took.Round(time.Millisecond), note.Code)
		if note.Code != sockhop.CloseGoingAway {
			t.Errorf("the closed tab's session ended with %d, want 1001 (going away)", note.Code)
		}
		drain(ended)
	})
}

// TestReloadResumes: a page with keepSession that reloads resumes its session (same id,
// resumed:true) and finds what the server keeps for it (a name set before the reload), on
// every transport; the session does not end meanwhile.
func TestReloadResumes(t *testing.T) {
	t.Parallel()
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		// A grace of 5 s, not 1: a reload on a loaded CI machine may take over a second.
		a, ended := lifecycleApp(t, 5*time.Second)
		opts := map[string]any{"transports": []string{tr}, "keepSession": true, "rememberTransport": 0}
		optsJSON, _ := json.Marshal(opts)
		tab := br.Open(t, "tab", a.ts.URL+"/", browser.Viewport{})
		c := connect(t, tab, opts)
		var ok bool
		tab.Eval(`s.emitWithAck('remember', 'ann')`, &ok)
		start := time.Now()
		tab.Goto(a.ts.URL + "/") // a reload: pagehide, then a new page in the same tab
		var r struct {
			ID      string `json:"id"`
			Resumed bool   `json:"resumed"`
			Name    string `json:"name"`
			Failed  int    `json:"failed"`
		}
		tab.Eval(`(async () => {
			await T.start(`+string(optsJSON)+`);
			const info = T.log.find((e) => e[0] === 'connect')[2];
			return { id: s.id, resumed: info.resumed, name: await s.emitWithAck('recall'), failed: T.count('resume-failed') };
		})()`, &r)
		t.Logf("%s: reload resumed=%v same session=%v name %q, %v from the reload to the answer", tr, r.Resumed, r.ID == c.ID, r.Name, time.Since(start).Round(time.Millisecond))
		if !r.Resumed || r.ID != c.ID || r.Name != "ann" || r.Failed != 0 {
			t.Fatalf("after the reload: %+v, want session %s resumed with name ann\n%s", r, c.ID, tab.LogText())
		}
		// Without keepSession a reload is a new session, and the old one goes within the grace.
		tab.Goto(a.ts.URL + "/")
		var n struct {
			ID      string `json:"id"`
			Resumed bool   `json:"resumed"`
		}
		tab.Eval(`(async () => { await T.start({ transports: ['`+tr+`'], rememberTransport: 0 }); return { id: s.id, resumed: T.log.find((e) => e[0] === 'connect')[2].resumed }; })()`, &n)
		if n.Resumed || n.ID == c.ID {
			t.Fatalf("without keepSession: %+v, want a new session", n)
		}
		select {
		case e := <-ended:
			if e[0] != c.ID || e[1] != sockhop.CloseGoingAway {
				t.Errorf("ended %v, want %s with 1001", e, c.ID)
			}
		case <-time.After(30 * time.Second): // bounded well under the 2 minute resume grace
			t.Fatal("the session of the page that reloaded without keepSession was kept")
		}
	})
}

func drain(c chan [2]any) {
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
