package metrics_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/metrics"
)

// The app registers sockhop's metrics on a registry of its own and serves it at /metrics.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	srv, err := sockhop.New(sockhop.Options{Observer: metrics.New(reg)})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, hs.URL+"/rt", client.Options{Transports: []string{client.WebSocket}, NoReconnect: true})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	fams, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "sockhop_sessions_open" {
			continue
		}
		for _, m := range f.GetMetric() {
			fmt.Println(m.GetLabel()[0].GetValue(), m.GetGauge().GetValue())
		}
	}
	// Output:
	// websocket 1
	// xhr-polling 0
	// xhr-streaming 0
}
