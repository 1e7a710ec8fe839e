package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestBrowserChat: two Chromium pages chat with each other on each forced transport.
func TestBrowserChat(t *testing.T) {
	b := browser.Start(t)
	shots := browser.ArtifactDir(t, "chat")
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := startChat(t)
		page := func(name, nick string, vp browser.Viewport) *browser.Page {
			p := b.Open(t, name, fmt.Sprintf("%s/?transport=%s&nick=%s", info.URL, tr, nick), vp)
			p.WaitText("#status-text", "connected")
			p.WaitText("#transport", "via "+tr)
			p.WaitText("#messages", "You joined #lobby as "+nick)
			return p
		}
		ann := page("ann", "ann", browser.Desktop)
		bob := page("bob", "bob", browser.Desktop)
		ann.WaitText("#messages", "bob joined")
		ann.WaitText("#members", "bob")

		ann.Fill("#text", "hi bob, <b>this</b> stays text")
		ann.Press("#text", "Enter")
		bob.WaitText("#messages", "hi bob, <b>this</b> stays text")
		var bold int
		bob.Eval(`document.querySelectorAll('#messages b').length`, &bold)
		if bold != 0 {
			t.Fatal("a message was rendered as HTML")
		}
		bob.Fill("#text", "héllo ann, ça va?")
		bob.Press("#text", "Enter")
		ann.WaitText("#messages", "héllo ann, ça va?")

		bob.Fill("#text", "/nick ann")
		bob.Press("#text", "Enter")
		bob.WaitText("#error", "is taken in #lobby")
		bob.Fill("#text", "/nick bobby")
		bob.Press("#text", "Enter")
		ann.WaitText("#messages", "bob is now known as bobby")

		ann.Fill("#text", strings.Repeat("a", maxText+1))
		ann.WaitText("#counter", "501/500")
		ann.Press("#text", "Enter")
		ann.WaitText("#error", "the limit is 500")

		if tr == testutil.Transports[0] {
			ann.Fill("#text", "shall we move the release chat to #dev?")
			ann.Press("#text", "Enter")
			bob.WaitText("#messages", "release chat")
			ann.Fill("#text", "")
			ann.Eval(`document.getElementById('error').hidden = true`, nil)
			ann.Screenshot(filepath.Join(shots, "chat-desktop.png"), false)
			phone := page("phone", "carol", browser.Phone)
			ann.WaitText("#messages", "carol joined")
			phone.WaitText("#messages", "release chat") // history
			phone.Fill("#text", "Hi all, on my phone")
			phone.Press("#text", "Enter")
			ann.WaitText("#messages", "on my phone")
			phone.Screenshot(filepath.Join(shots, "chat-mobile.png"), false)
			phone.Close()
			t.Logf("screenshots in %s", shots)
		}

		bob.Fill("#room", "dev")
		bob.Press("#room", "Enter")
		bob.WaitText("#room-title", "#dev")
		ann.WaitText("#messages", "bobby left")
		ann.WaitText("#rooms", "#dev")
		ann.Close()
		bob.Close()
	})
}
