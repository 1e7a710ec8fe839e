package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestBrowserChatLifecycle, on every transport, with Chromium: a reload keeps the tab's
// session, nickname and room (no "nickname is taken"); a second tab of the same browser
// (same localStorage nickname) gets in under a variant; a tab that closes leaves the other
// tabs' member lists after the going-away grace (5 s here, 1 s by default), not the 2
// minute resume grace; a message sent offline shows as pending and
// goes out after the reconnect; a bad nickname or room keeps what the user typed.
func TestBrowserChatLifecycle(t *testing.T) {
	t.Parallel()
	b := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := startChat(t, "-going-away-grace", "5s") // a reload on a loaded CI machine may take over a second
		url := fmt.Sprintf("%s/?transport=%s", info.URL, tr)
		ann := b.Open(t, "ann", url, browser.Desktop)
		ann.WaitText("#messages", "You joined #lobby as guest")
		var first struct{ Nick, ID string }
		ann.Eval(`({ nick: chat.me.nick, id: chat.socket.id })`, &first)

		// Reload: the same session, the same nickname, no error.
		start := time.Now()
		ann.Goto(url)
		ann.WaitText("#messages", "You joined #lobby as "+first.Nick)
		var again struct{ Nick, ID, Err string }
		ann.Eval(`({ nick: chat.me.nick, id: chat.socket.id, err: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent })`, &again)
		t.Logf("%s: reload back in #lobby as %s after %v, same session %v", tr, again.Nick, time.Since(start).Round(time.Millisecond), again.ID == first.ID)
		if again.Nick != first.Nick || again.ID != first.ID || again.Err != "" {
			t.Fatalf("after the reload: %+v, want %+v and no error", again, first)
		}

		// A second tab of the same browser: the remembered nickname is taken; a variant.
		bob := b.Open(t, "bob", "", browser.Desktop)
		bob.Goto(info.URL + "/favicon.ico") // same origin, for localStorage
		bob.Eval(fmt.Sprintf(`localStorage.setItem('chat.nick', %q)`, first.Nick), nil)
		bob.Goto(url)
		bob.WaitText("#messages", "You joined #lobby as "+first.Nick+"-")
		var bobNick string
		bob.Eval(`chat.me.nick`, &bobNick)
		ann.WaitText("#members", bobNick)

		// Closing the second tab: it leaves ann's member list after the going-away grace.
		start = time.Now()
		bob.CloseTab()
		ann.WaitWithin(20*time.Second, fmt.Sprintf(`!document.getElementById('members').textContent.includes(%q)`, bobNick))
		t.Logf("%s: a closed tab left the member list %v after the close", tr, time.Since(start).Round(time.Millisecond))
		ann.WaitText("#messages", bobNick+" left")

		// Offline: the message shows as pending, and goes out after the reconnect.
		ann.Offline(true)
		ann.WaitText("#status-text", "disconnected")
		ann.Fill("#text", "sent while offline")
		ann.Press("#text", "Enter")
		ann.WaitText(".msg.pending", "waiting for the connection")
		ann.Offline(false)
		ann.WaitWithin(30*time.Second, `!document.querySelector('.msg.pending') && [...document.querySelectorAll('.msg:not(.pending) .text')].some((e) => e.textContent === 'sent while offline')`)

		// Errors keep what the user typed.
		ann.Fill("#room", "no spaces!")
		ann.Press("#room", "Enter")
		ann.WaitText("#error", "a room name is")
		if v := inputValue(t, ann, "#room"); v != "no spaces!" {
			t.Errorf("room field %q after a bad room name, want what was typed", v)
		}
		ann.Fill("#nick", "bad nick!")
		ann.Press("#nick", "Enter")
		ann.WaitText("#error", "a nickname is")
		if v := inputValue(t, ann, "#nick"); v != "bad nick!" {
			t.Errorf("nickname field %q after a bad nickname, want what was typed", v)
		}
		ann.Close()
	})
}

// TestBrowserChatBadTransport: a ?transport= the client does not know is reported on the
// page, and the page connects anyway.
func TestBrowserChatBadTransport(t *testing.T) {
	b := browser.Start(t)
	info := startChat(t)
	p := b.Open(t, "p", info.URL+"/?transport=websockets&nick=ann", browser.Desktop)
	p.WaitText("#warning", `Unknown transport "websockets"`)
	p.WaitText("#messages", "You joined #lobby as ann")
}

func inputValue(t *testing.T, p *browser.Page, sel string) string {
	t.Helper()
	var v string
	p.Eval(fmt.Sprintf(`document.querySelector(%q).value`, sel), &v)
	return v
}

// TestChatScreenshots takes the screenshots of docs/ (desktop and phone, many rooms, long
// names, an announcement posted over HTTP, "typing…") into the artifact directory, and
// checks the layout: a 20-character nickname on one line in the member list, the phone's
// room list bounded so the messages keep room.
func TestChatScreenshots(t *testing.T) {
	b := browser.Start(t)
	shots := browser.ArtifactDir(t, "chat")
	info := startChat(t, "-publish-key", "s3cret")
	rooms := []string{"design-review", "release-2026-12", "support-emea", "random", "infra-oncall", "frontend", "backend-go", "mobile", "data-pipeline", "marketing-launch", "hiring", "book-club"}
	for i, r := range rooms {
		c := dialChat(t, info.URL+"/rt", "websocket", nil)
		if err := c.request(t, "join", map[string]string{"room": r, "nick": fmt.Sprintf("member-%02d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	long := "maximilian_vanderbe" + "r" // 20 characters
	others := []*browser.Page{}
	for _, n := range []string{long, "Chiara.Castellanos", "ann"} {
		p := b.Open(t, n, info.URL+"/?nick="+n, browser.Desktop)
		p.WaitText("#messages", "You joined #lobby as "+n)
		others = append(others, p)
	}
	talk := others[2]
	for _, m := range []string{"Morning! The release notes draft is in the doc.", "Can someone look at the nginx idle timeout? Sessions drop every 20 s behind the office proxy.", "Fixed in the next build: the client learns the interval now."} {
		talk.Fill("#text", m)
		talk.Press("#text", "Enter")
		talk.WaitText("#messages", m)
	}
	desk := others[0]
	desk.WaitText("#messages", "learns the interval")
	// An announcement from another process (what ./announce -url posts), and ann typing.
	body := `{"rooms":["chat:lobby"],"event":"msg","class":"durable","data":{"id":"a1","room":"lobby","nick":"announcement","kind":"announcement","ts":` +
		fmt.Sprint(time.Now().UnixMilli()) + `,"text":"Maintenance tonight at 22:00 UTC: expect a reconnect or two."}}`
	req, _ := http.NewRequest(http.MethodPost, info.URL+"/rt/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %s", resp.Status)
	}
	desk.WaitText("#messages", "Maintenance tonight")
	talk.Fill("#text", "Thanks, I will")
	desk.WaitText("#typing", "ann is typing…")
	desk.Screenshot(filepath.Join(shots, "chat-desktop.png"), false)
	phone := b.Open(t, "phone", info.URL+"/?nick=Chiara.Castellan0s", browser.Phone)
	phone.WaitText("#messages", "learns the interval")
	phone.Screenshot(filepath.Join(shots, "chat-phone.png"), false)
	t.Logf("screenshots in %s", shots)

	// A 20-character nickname stays on one line of the member list.
	var lines struct{ H, Line float64 }
	desk.Eval(fmt.Sprintf(`(() => { const li = [...document.querySelectorAll('#members li')].find((e) => e.textContent === %q); const cs = getComputedStyle(li); return { h: li.getBoundingClientRect().height, line: parseFloat(cs.lineHeight) + parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom) }; })()`, long), &lines)
	if lines.H > lines.Line+1 {
		t.Errorf("the 20-character nickname takes %.0f px in the member list, one line is %.0f", lines.H, lines.Line)
	}
	// On the phone the room list is bounded: the messages keep most of the screen.
	var ph struct{ Rooms, Messages float64 }
	phone.Eval(`({ rooms: document.getElementById('rooms').getBoundingClientRect().height, messages: document.getElementById('messages').getBoundingClientRect().height })`, &ph)
	t.Logf("phone: room list %.0f px, messages %.0f px", ph.Rooms, ph.Messages)
	if ph.Rooms > 100 || ph.Messages < 300 {
		t.Errorf("phone layout: room list %.0f px, messages %.0f px; want the room list bounded and the messages at least 300 px", ph.Rooms, ph.Messages)
	}
}
