package sockhop_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/dial"
)

// TestIPv6Prefix: the per-address session limit counts an IPv6 client by its /64 (the
// default IPv6PrefixLen), so addresses of one /64 share a count and another /64 has its
// own; with IPv6PrefixLen 128 each address counts alone. The clients' addresses come
// through X-Forwarded-For from a trusted proxy.
func TestIPv6Prefix(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		from := func(ip string) client.Options {
			return client.Options{Header: http.Header{"X-Forwarded-For": {ip}}}
		}
		opts := sockhop.Options{MaxSessionsPerIP: 2, TrustedProxies: []string{"127.0.0.1"}}
		_, url := echoServer(t, opts, nil)
		dialClient(t, url, tr, from("2001:db8:1:2::1"))
		dialClient(t, url, tr, from("2001:db8:1:2:ffff:ffff:ffff:fffe"))
		wantTooManyFrom(t, url, tr, "2001:db8:1:2::3")
		mustEcho(t, dialClient(t, url, tr, from("2001:db8:1:3::1")))

		opts.IPv6PrefixLen = 128
		_, url = echoServer(t, opts, nil)
		for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"} {
			mustEcho(t, dialClient(t, url, tr, from(ip)))
		}
	})
}

func TestIPv6PrefixLenRange(t *testing.T) {
	for _, n := range []int{-1, 129} {
		if _, err := sockhop.New(sockhop.Options{IPv6PrefixLen: n}); err == nil {
			t.Errorf("IPv6PrefixLen %d accepted", n)
		}
	}
}

// wantTooManyFrom checks that one more session from ip is refused: 1013 after the hello on
// WebSocket, 429 on SockJS's first request. One attempt, made by hand: the client would
// wait for the refusal's retry hint and try again, and a bound on that would race its
// next dial.
func wantTooManyFrom(t *testing.T, url, tr, ip string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial.Dial(ctx, url, tr, dial.Options{Header: http.Header{"X-Forwarded-For": {ip}}})
	if tr != client.WebSocket {
		var he *dial.HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests {
			t.Fatalf("%s: one session too many on SockJS: %v, want 429", ip, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: dial: %v", ip, err)
	}
	rc := &rawConn{t: t, Conn: c}
	defer rc.Close(1000, "")
	rc.send(`{"t":"hello","v":1}`)
	m, err := rc.next()
	if err != nil || m.T != "close" || m.Code != sockhop.CloseTryAgainLater {
		t.Fatalf("%s: one session too many on WebSocket: %+v, %v; want close 1013", ip, m, err)
	}
}
