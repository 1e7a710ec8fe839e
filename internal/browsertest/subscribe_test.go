package browsertest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// subscribeApp is an app whose rooms "room:…" are durable and open to client subscriptions,
// but for "room:secret" (refused with code "private"); other rooms refuse them. ended gets
// the id of every session that ends.
func subscribeApp(t *testing.T) (*app, chan string) {
	a := newApp(t, sockhop.Options{}, "") // the going-away grace is the default 1 s
	a.srv.Channel("room:", sockhop.Channel{
		Class: sockhop.Durable,
		Subscribe: func(_ context.Context, _ *sockhop.Session, room string) error {
			if room == "room:secret" {
				return &sockhop.Error{Code: "private", Message: "members only"}
			}
			return nil
		},
	})
	ended := make(chan string, 16)
	a.srv.OnDisconnect(func(s *sockhop.Session, _ error) { ended <- s.ID() })
	return a, ended
}

// emitRange broadcasts "m" with from..to to room.
func emitRange(t *testing.T, a *app, room string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := a.srv.To(room).Emit(context.Background(), "m", i); err != nil {
			t.Fatalf("emit %d to %s: %v", i, room, err)
		}
	}
}

// subResult is a subscribe() answer, or its error's code.
type subResult struct {
	Room      string `json:"room"`
	Recovered bool   `json:"recovered"`
	Pos       *struct {
		E string `json:"e"`
		O uint64 `json:"o"`
	} `json:"pos"`
	Code string `json:"code"`
}

// span returns from..to.
func span(from, to int) []int {
	var v []int
	for i := from; i <= to; i++ {
		v = append(v, i)
	}
	return v
}

// TestSubscribe: in real Chromium on every transport, subscriptions through a Channel rule
// are refused (the rule's code, or forbidden without a rule) and allowed; a page that
// reloads after its session ended (so nothing resumes it) subscribes again from the
// positions it left in sessionStorage and catches up on the durable messages sent while no
// page was there: recovered:true, none lost, none twice; after unsubscribe the room's
// messages no longer come.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		a, ended := subscribeApp(t)
		opts := map[string]any{"transports": []string{tr}, "keepSession": true, "rememberTransport": 0}
		optsJSON, _ := json.Marshal(opts)
		tab := br.Open(t, "tab", a.ts.URL+"/", browser.Viewport{})
		c := connect(t, tab, opts)
		var first struct {
			Secret, Other, Room subResult
		}
		tab.Eval(`(async () => {
			s.on('m', (d) => (T.got.m = T.got.m || []).push(d));
			const sub = (room) => s.subscribe(room).catch((e) => ({ code: e.code }));
			return { secret: await sub('room:secret'), other: await sub('other'), room: await sub('room:a') };
		})()`, &first)
		if first.Secret.Code != "private" || first.Other.Code != "forbidden" {
			t.Fatalf("refused subscriptions answered %+v and %+v, want codes private and forbidden", first.Secret, first.Other)
		}
		if first.Room.Code != "" || first.Room.Room != "room:a" || first.Room.Recovered {
			t.Fatalf("subscribe('room:a') = %+v, want it allowed, recovered false", first.Room)
		}
		var base uint64 // the room's offset before the test's messages
		if first.Room.Pos != nil {
			base = first.Room.Pos.O
		}
		emitRange(t, a, "room:a", 1, 20)
		tab.Wait(`(T.got.m || []).length === 20`)

		// A reload whose session ends before the next page connects: no resume can help.
		tab.Goto(a.ts.URL + "/")
		select {
		case id := <-ended:
			if id != c.ID {
				t.Fatalf("session %s ended, want the reloaded page's %s", id, c.ID)
			}
		case <-time.After(30 * time.Second): // the going-away grace is 1 s
			t.Fatal("the session of the page that reloaded was kept")
		}
		emitRange(t, a, "room:a", 21, 40) // while no page is there
		var after struct {
			ID      string    `json:"id"`
			Resumed bool      `json:"resumed"`
			Failed  int       `json:"failed"`
			Sub     subResult `json:"sub"`
			Got     []int     `json:"got"`
		}
		tab.Eval(`(async () => {
			const started = T.start(`+string(optsJSON)+`);
			s.on('m', (d) => (T.got.m = T.got.m || []).push(d));
			const sub = await s.subscribe('room:a'); // the room the last page left, from its position
			await started;
			await T.until(() => (T.got.m || []).length >= 20);
			const info = T.log.find((e) => e[0] === 'connect')[2];
			return { id: s.id, resumed: info.resumed, failed: T.count('resume-failed'), sub, got: T.got.m };
		})()`, &after)
		t.Logf("%s: after the reload: a new session %v, recovered %v at %+v, %d messages caught up", tr, !after.Resumed && after.ID != c.ID, after.Sub.Recovered, after.Sub.Pos, len(after.Got))
		if after.Resumed || after.ID == c.ID {
			t.Fatalf("after the reload: session %s resumed=%v, want a new session", after.ID, after.Resumed)
		}
		if !after.Sub.Recovered || after.Sub.Pos == nil || after.Sub.Pos.O != base+40 {
			t.Errorf("subscribe after the reload = %+v, want recovered at offset %d", after.Sub, base+40)
		}
		emitRange(t, a, "room:a", 41, 45) // live again
		tab.Wait(`T.got.m.length >= 25`)
		var got []int
		tab.Eval(`T.got.m`, &got)
		if want := span(21, 45); !slices.Equal(got, want) {
			t.Fatalf("the page after the reload got %v, want %v: each message once, in order (lost %d)", got, want, lost(got, want))
		}

		// After unsubscribe the room's messages stop; the session's own events still come.
		var ok bool
		tab.Eval(`s.unsubscribe('room:a').then(() => true)`, &ok)
		emitRange(t, a, "room:a", 46, 46)
		// The broadcast was queued on the session before the echo's answer, which comes after it.
		tab.Eval(`s.emitWithAck('echo', 'marker').then(() => true)`, &ok)
		tab.Eval(`T.got.m`, &got)
		if !slices.Equal(got, span(21, 45)) {
			t.Fatalf("after unsubscribe the page got %v", got[len(got)-1:])
		}
	})
}

// lost counts the messages of want that got lacks.
func lost(got, want []int) int {
	n := 0
	for _, w := range want {
		if !slices.Contains(got, w) {
			n++
		}
	}
	return n
}
