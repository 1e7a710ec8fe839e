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

// wantTooManyFrom is wantTooMany for a client forwarded from ip.
func wantTooManyFrom(t *testing.T, url, tr, ip string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, NoReconnect: true,
		Header: http.Header{"X-Forwarded-For": {ip}}})
	var he *dial.HTTPError
	switch {
	case tr == client.WebSocket && sockhop.CloseCode(err) != sockhop.CloseTryAgainLater:
		t.Fatalf("%s: one session too many on WebSocket: %v, want close 1013", ip, err)
	case tr != client.WebSocket && (!errors.As(err, &he) || he.Status != http.StatusTooManyRequests):
		t.Fatalf("%s: one session too many on SockJS: %v, want 429", ip, err)
	}
}
