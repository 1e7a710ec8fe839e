package clustertest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// pageConn is what hop.connect answers.
type pageConn struct {
	SID       string `json:"sid"`
	Node      string `json:"node"`
	Transport string `json:"transport"`
}

// sendResult is hop.st.sendResult.
type sendResult struct {
	Acked  int      `json:"acked"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors"`
	MS     int      `json:"ms"`
}

// TestBrowsers: two Chromium pages (each in a browser context of its own: no shared
// storage or cookies) load the test page through nginx, connect on one forced transport
// with their sessions on different nodes, and send 2,000 acked messages each at once. Each
// page gets all 4,000, each once, in order per sender.
func TestBrowsers(t *testing.T) {
	const perSender, window = 2000, 64
	browser.Require(t)
	c := startCluster(t, redisBroker, 3)
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		room := "browsers-" + tr
		pages := map[string]*browser.Page{}
		conns := map[string]pageConn{}
		for _, name := range []string{"ann", "bob"} {
			p := br.Open(t, name+"-"+tr, c.lb.url+"/", browser.Viewport{})
			p.Wait("window.hop && window.sockhop")
			pages[name] = p
			// bob reconnects until his session is on another node than ann's.
			for try := 0; ; try++ {
				var pc pageConn
				p.Eval(fmt.Sprintf("hop.connect(%q, %q, %q)", tr, name, room), &pc)
				if pc.Transport != tr {
					t.Fatalf("%s connected via %s, want %s", name, pc.Transport, tr)
				}
				if name == "ann" || pc.Node != conns["ann"].Node {
					conns[name] = pc
					break
				}
				if try == 10 {
					t.Fatalf("bob's session is on ann's node %s after %d connects", pc.Node, try+1)
				}
				// The balancer goes round robin: a connect that takes the same number of
				// requests each time, n, would land on the same node each time, and so would
				// one that makes a fixed number more when n plus it is a multiple of the
				// nodes (CI saw both). try+1 requests more move the next connect by a
				// different step each time: within three tries one lands elsewhere.
				p.Eval(fmt.Sprintf("(async () => { for (let i = 0; i < %d; i++) await fetch('/rt/sockjs/info'); return true })()", try+1), nil)
			}
		}
		t.Logf("ann on %s (session %s), bob on %s (session %s), via %s", conns["ann"].Node, conns["ann"].SID, conns["bob"].Node, conns["bob"].SID, tr)
		start := time.Now()
		for name, p := range pages {
			p.Eval(fmt.Sprintf("hop.startSend(%q, %q, %d, %d), true", room, name, perSender, window), nil)
		}
		results := map[string]sendResult{}
		for name, p := range pages {
			p.WaitWithin(2*time.Minute, "hop.st.sendResult")
			var r sendResult
			p.Eval("hop.st.sendResult", &r)
			results[name] = r
			if r.Acked != perSender || r.Failed != 0 {
				t.Errorf("%s: %d of %d acked, %d failed: %v", name, r.Acked, perSender, r.Failed, r.Errors)
			}
		}
		elapsed := time.Since(start)
		var total Counts
		for name, p := range pages {
			// Every ack is in; the last broadcasts may still be on their way.
			p.WaitWithin(30*time.Second, fmt.Sprintf("(hop.st.said.ann || []).length >= %d && (hop.st.said.bob || []).length >= %d", perSender, perSender))
			for _, from := range []string{"ann", "bob"} {
				var raw json.RawMessage
				p.Eval(fmt.Sprintf("hop.tally(%q, %d)", from, perSender), &raw)
				var cn struct{ Got, Lost, Dup, Reordered, Bad int }
				if err := json.Unmarshal(raw, &cn); err != nil {
					t.Fatal(err)
				}
				total.Add(Counts{Got: cn.Got, Lost: cn.Lost, Dup: cn.Dup, Reordered: cn.Reordered + cn.Bad})
				if cn.Lost != 0 || cn.Dup != 0 || cn.Reordered != 0 || cn.Bad != 0 {
					t.Errorf("%s's page, from %s: %+v\n%s", name, from, cn, p.LogText())
				}
			}
		}
		t.Logf("%s: 2 pages x %d acked messages each way in %v (ann %d ms, bob %d ms): %d delivered, %d lost, %d duplicated, %d reordered",
			tr, perSender, elapsed.Round(time.Millisecond), results["ann"].MS, results["bob"].MS, total.Got, total.Lost, total.Dup, total.Reordered)
		for _, p := range pages {
			p.Eval("hop.close()", nil)
			p.Close()
		}
	})
}
