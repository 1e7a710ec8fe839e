package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestBrowserChatCatchUp, in Chromium on every transport: a page that reloads after its
// session ended (away longer than the going-away grace) subscribes again from the position
// it left in sessionStorage and shows what was said meanwhile, each message once
// (recovered); "typing…" from another member shows, then goes with their message; a
// subscription to a room with a bad name is refused by the Channel rule.
func TestBrowserChatCatchUp(t *testing.T) {
	t.Parallel()
	b := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := startChat(t)
		url := fmt.Sprintf("%s/?transport=%s&nick=ann", info.URL, tr)
		bob := dialChat(t, serve.SockhopURL(info.URL), tr, nil)
		bob.join(t, "lobby", "bob")
		bob.say(t, "before the reload")
		ann := b.Open(t, "ann", url, browser.Desktop)
		ann.WaitText("#messages", "before the reload")
		var first string
		ann.Eval(`chat.socket.id`, &first)

		// Away: a page of the same origin, for longer than the going-away grace (1 s).
		ann.Goto(info.URL + "/favicon.ico")
		bob.waitNotice(t, "leave", "ann")
		for i := 1; i <= 3; i++ {
			bob.say(t, fmt.Sprintf("said while ann was away %d", i))
		}
		ann.Goto(url)
		ann.WaitText("#messages", "You joined #lobby as ann")
		ann.WaitText("#messages", "said while ann was away 3")
		var got struct {
			ID        string
			Recovered bool
			Texts     []string
		}
		ann.Eval(`({ id: chat.socket.id, recovered: chat.sub.recovered, texts: [...document.querySelectorAll('#messages .msg .text')].map((e) => e.textContent) })`, &got)
		t.Logf("%s: after the reload: a new session %v, recovered %v, %d messages shown", tr, got.ID != first, got.Recovered, len(got.Texts))
		want := []string{"before the reload", "said while ann was away 1", "said while ann was away 2", "said while ann was away 3"}
		if got.ID == first || !got.Recovered || fmt.Sprint(got.Texts) != fmt.Sprint(want) {
			t.Fatalf("after the reload: session %s (was %s), recovered %v, messages %q; want a new session that recovered %q, each once", got.ID, first, got.Recovered, got.Texts, want)
		}

		// Typing: bob's shows on ann's page, and goes with his message.
		// Volatile: dropped for a page with no transport at the moment (between two polls);
		// a typist sends it again every 2 s, this test sooner.
		shown := false
		for i := 0; i < 50 && !shown; i++ {
			if err := bob.c.Emit(context.Background(), "typing", struct{}{}); err != nil {
				t.Fatal(err)
			}
			ann.Eval(`new Promise((res) => { const end = Date.now() + 300; (function f() { if (document.getElementById('typing').textContent === 'bob is typing…') return res(true); if (Date.now() > end) return res(false); setTimeout(f, 20); })(); })`, &shown)
		}
		ann.WaitText("#typing", "bob is typing…")
		bob.say(t, "done typing")
		ann.WaitText("#messages", "done typing")
		if s := ann.Text("#typing"); s != "" {
			t.Errorf("typing indicator %q after bob's message", s)
		}

		// The Channel rule checks the room's name.
		var code string
		ann.Eval(`chat.socket.subscribe('chat:No Spaces').then(() => 'ok', (e) => e.code)`, &code)
		if code != "bad_room" {
			t.Errorf("subscribe to a bad room name: %q, want bad_room", code)
		}
		ann.Eval(`chat.socket.subscribe('elsewhere').then(() => 'ok', (e) => e.code)`, &code)
		if code != "forbidden" {
			t.Errorf("subscribe to a room outside the chat's Channel: %q, want forbidden", code)
		}
	})
}
