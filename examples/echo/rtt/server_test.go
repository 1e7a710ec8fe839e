package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/serve"
)

// startServer serves the "rtt" event as the echo example does, through serve.Run.
func startServer(t *testing.T, useTLS bool) (string, *http.Client) {
	// The echo example's message rate (its main.go says why): with the default one, a
	// measure of -n 1000 is refused within its first few hundred round trips.
	srv, err := sockhop.New(sockhop.Options{MessageRate: 50_000, MessageBurst: 5_000})
	if err != nil {
		t.Fatal(err)
	}
	sockhop.OnRequest(srv, "rtt", func(_ context.Context, _ *sockhop.Session, v json.RawMessage) (any, error) {
		return map[string]any{"t": time.Now().UnixNano(), "c": v}, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	f := serve.Flags{Addr: "127.0.0.1:0", SelfSigned: useTLS, Hosts: "127.0.0.1"}
	info := serve.StartForTest(t, func(ctx context.Context, ready func(serve.Info)) error {
		return serve.Run(ctx, serve.Config{Name: "rtt-test", Flags: f, Handler: mux, Sockhop: srv, Stdout: discard{}, Ready: ready})
	})
	var hc *http.Client
	if useTLS {
		hc = serve.HTTPClient(info.Cert)
	}
	return serve.SockhopURL(info.URL), hc
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
