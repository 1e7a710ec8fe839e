package main

import (
	"strings"
	"testing"

	"github.com/sockhop/sockhop/internal/browser"
)

// TestBrowserCountdown: the page's reconnect countdown counts down (a reconnecting event
// with a 3 s delay shows 3, then 2, then 1 s).
func TestBrowserCountdown(t *testing.T) {
	b := browser.Start(t)
	base := strings.TrimSuffix(startEcho(t), "/rt")
	p := b.Open(t, "echo", base+"/", browser.Desktop)
	p.WaitText("#status-text", "connected via")
	p.Eval(`(() => { window.seen = []; new MutationObserver(() => seen.push(document.getElementById('status-text').textContent)).observe(document.getElementById('status'), { subtree: true, childList: true, characterData: true }); echo.socket.fire('reconnecting', 1, 3000); return true; })()`, nil)
	p.WaitText("#status-text", "reconnecting in 1 s")
	var seen []string
	p.Eval(`seen`, &seen)
	if !strings.Contains(strings.Join(seen, "|"), "reconnecting in 2 s") {
		t.Errorf("the countdown showed %q, want 3, 2, 1", seen)
	}
}
