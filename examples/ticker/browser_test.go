package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestBrowserTicker: the table fills at once, keeps updating, and follows the chips.
func TestBrowserTicker(t *testing.T) {
	b := browser.Start(t)
	shots := browser.ArtifactDir(t, "ticker")
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := serve.StartExample(t, run)
		p := b.Open(t, "desk", info.URL+"/?transport="+tr, browser.Desktop)
		p.WaitText("#status-text", "connected via "+tr)
		p.Wait(`document.querySelectorAll('#rows tr').length === 4`)
		var first, later string
		p.Eval(`document.querySelector('#rows tr[data-sym="ACME"] .price').textContent`, &first)
		p.Wait(`window.ticker.updates() > 40`)
		p.Eval(`document.querySelector('#rows tr[data-sym="ACME"] .price').textContent`, &later)
		if first == "" || later == "" {
			t.Fatalf("ACME price %q then %q", first, later)
		}
		p.Wait(`document.querySelector('#rows tr.up, #rows tr.down') !== null`)
		p.Click(`.chip[data-sym="ACME"]`)
		p.Wait(`!document.querySelector('#rows tr[data-sym="ACME"]')`)
		p.Click(`.chip[data-sym="STRK"]`)
		p.Wait(`document.querySelector('#rows tr[data-sym="STRK"] .price')?.textContent !== ''`)
		if tr == testutil.Transports[0] {
			time.Sleep(1200 * time.Millisecond) // a full second of the updates/s figure
			p.Screenshot(filepath.Join(shots, "ticker-desktop.png"), false)
			m := b.Open(t, "phone", info.URL+"/", browser.Phone)
			m.Wait(`document.querySelectorAll('#rows tr').length === 4`)
			time.Sleep(1200 * time.Millisecond)
			m.Screenshot(filepath.Join(shots, "ticker-mobile.png"), false)
			m.Close()
			t.Logf("screenshots in %s", shots)
		}
		p.Close()
	})
}
