package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/rooms"
)

// BenchmarkForwardedSend measures what a load balancer without affinity costs a SockJS
// client: one xhr_send carrying one event, answered 204, sent to the session's node
// (direct) or to another node that forwards it there (forwarded). The closing note of
// issue 16 and docs/scaling.md report the ratio.
func BenchmarkForwardedSend(b *testing.B) {
	bus := rooms.NewMemoryBus()
	a, urlA := clusterNode(b, bus.Adapter(), sockhop.Options{MessageRate: -1})
	nb, urlB := clusterNode(b, bus.Adapter(), sockhop.Options{MessageRate: -1})
	a.Handle("noop", func(context.Context, *sockhop.Session, json.RawMessage) (any, error) { return nil, nil })
	waitFor(b, "B knows A", func() error {
		for _, n := range nb.Nodes() {
			if n.ID == a.NodeID() && n.Addr != "" {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	runs := 0
	for _, bc := range []struct{ name, base string }{{"direct", urlA}, {"forwarded", urlB}} {
		b.Run(bc.name, func(b *testing.B) {
			key := strings.Repeat("k", 32)
			runs++
			sid := fmt.Sprintf("bench%s%d", bc.name, runs)
			url := bc.base + "/sockjs/" + a.NodeID() + "/" + sid + "/"
			post := func(path, body string) int {
				req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
				req.Header.Set("X-Sockhop-Key", key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res.StatusCode
			}
			post("xhr", "")
			if c := post("xhr_send", `["{\"t\":\"hello\",\"v\":1}"]`); c != http.StatusNoContent {
				b.Fatalf("hello: %d", c)
			}
			post("xhr", "") // the welcome
			// A receiving request always waiting, as a client keeps one, or the SockJS
			// session would end after SockJSDisconnectDelay.
			stop := make(chan struct{})
			polled := make(chan struct{})
			go func() {
				defer close(polled)
				for {
					select {
					case <-stop:
						return
					default:
					}
					post("xhr", "")
				}
			}()
			defer func() {
				close(stop)
				post("xhr_send", `["{\"t\":\"close\",\"code\":1000}"]`)
				<-polled
			}()
			ev := `["{\"t\":\"ev\",\"n\":\"noop\",\"d\":1}"]`
			b.ResetTimer()
			for b.Loop() {
				if c := post("xhr_send", ev); c != http.StatusNoContent {
					b.Fatalf("xhr_send: %d", c)
				}
			}
		})
	}
}
