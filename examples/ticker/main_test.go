package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	idial "github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func startTicker(t *testing.T, interval time.Duration) string {
	return serve.SockhopURL(serve.StartExample(t, run, "-interval", interval.String()).URL)
}

func sym(s string) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var q quote
		return json.Unmarshal(d, &q) == nil && q.Sym == s
	}
}

// TestLateSubscriber: with a market that never ticks, a subscriber still gets the last
// quote at once.
func TestLateSubscriber(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		c, rec := serve.Dial(t, startTicker(t, time.Hour), tr, nil, "quote")
		var list []symbol
		if err := json.Unmarshal(serve.MustAsk(t, c, "symbols", nil), &list); err != nil || len(list) != len(symbols) {
			t.Fatalf("symbols: %v %v", list, err)
		}
		start := time.Now()
		var reply quote
		_ = json.Unmarshal(serve.MustAsk(t, c, "subscribe", "HOOL"), &reply)
		e := rec.Wait(t, "quote", 2*time.Second, sym("HOOL"))
		var q quote
		_ = json.Unmarshal(e.Data, &q)
		if q.Price != 1204.50 || reply != q {
			t.Fatalf("first quote %+v, reply %+v", q, reply)
		}
		if d := e.At.Sub(start); d > time.Second {
			t.Errorf("first quote after %v", d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.EmitWithAck(ctx, "subscribe", "NOPE"); err == nil {
			t.Error("an unknown symbol was accepted")
		}
	})
}

// TestUpdatesFlowAndStop: quotes of subscribed symbols arrive several times a second, and
// none after unsubscribe.
func TestUpdatesFlowAndStop(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		c, rec := serve.Dial(t, startTicker(t, 50*time.Millisecond), tr, nil, "quote")
		serve.MustAsk(t, c, "subscribe", "ACME")
		serve.MustAsk(t, c, "subscribe", "GLBX")
		start := time.Now()
		var prev quote
		for i := range 10 {
			var q quote
			_ = json.Unmarshal(rec.Wait(t, "quote", 5*time.Second, sym("ACME")).Data, &q)
			if i > 0 && (q.TS < prev.TS || q.Dir != sign(q.Price-prev.Price)) {
				t.Fatalf("quote %+v after %+v", q, prev)
			}
			prev = q
		}
		rec.Wait(t, "quote", 5*time.Second, sym("GLBX"))
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("10 updates took %v at 20/s", d)
		}
		serve.MustAsk(t, c, "unsubscribe", "ACME")
		serve.MustAsk(t, c, "unsubscribe", "GLBX")
		// A quote already on its way may still land after the ack: one the market sent
		// as the leave happened, or one read before the ack whose handler has not run
		// yet. Two ticks settle those; then nothing may come.
		time.Sleep(100 * time.Millisecond)
		n := rec.Count("quote")
		time.Sleep(300 * time.Millisecond)
		if m := rec.Count("quote"); m != n {
			t.Fatalf("%d quotes after unsubscribe", m-n)
		}
	})
}

func sign(f float64) int {
	switch {
	case f > 0:
		return 1
	case f < 0:
		return -1
	}
	return 0
}

// TestAllowHost: -allow-host reaches sockhop.Options.AllowedHosts: a Host not listed gets
// 403 on sockhop's endpoints, on every transport; a listed one is served.
func TestAllowHost(t *testing.T) {
	byIP := serve.SockhopURL(serve.StartExample(t, run, "-allow-host", "localhost").URL)
	byName := strings.Replace(byIP, "127.0.0.1", "localhost", 1)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Dial(ctx, byIP, client.Options{Transports: []string{tr}, NoReconnect: true})
		var he *idial.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusForbidden {
			t.Fatalf("Host 127.0.0.1: %v, want 403", err)
		}
		c, _ := serve.Dial(t, byName, tr, nil)
		serve.MustAsk(t, c, "symbols", nil)
	})
}
