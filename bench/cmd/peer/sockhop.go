package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/metrics"
	"github.com/sockhop/sockhop/rooms/nats"
	"github.com/sockhop/sockhop/rooms/redis"
)

// warnLog writes the adapters' warnings (a lost connection, lost broadcasts) to stderr,
// which the harness shows when a measurement fails.
var warnLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// newSockhop serves the protocol with sockhop at /rt/: WebSocket, xhr-streaming and
// xhr-polling; with redisAddr or natsAddr, as one node of several sharing rooms. A broadcast's 2,000 messages to one member take about 280 KB of queue,
// so the queue bound is raised above the 1 MiB default only for headroom.
// withMetrics turns sockhop's Prometheus metrics on (Options.Observer, on a registry of its
// own that nobody scrapes: the cost measured is counting, as scrapes are rare).
func newSockhop(redisAddr, natsAddr string, withMetrics bool) (http.Handler, error) {
	// The load generator is one address sending as fast as the server answers: the per-IP
	// session limit and the per-client message rate limit are off, as an app behind a
	// load balancer would set them for its own benchmark.
	opts := sockhop.Options{MaxQueueBytes: 8 << 20, MaxSessionsPerIP: -1, ConnectRate: -1, MessageRate: -1}
	if withMetrics {
		opts.Observer = metrics.New(prometheus.NewRegistry())
	}
	if redisAddr != "" {
		a, err := redis.New(redis.Options{Addr: redisAddr, KeyPrefix: "bench", Logger: warnLog})
		if err != nil {
			return nil, err
		}
		opts.Adapter = a
	}
	if natsAddr != "" {
		a, err := nats.New(nats.Options{URL: "nats://" + natsAddr, SubjectPrefix: "bench", Logger: warnLog})
		if err != nil {
			return nil, err
		}
		opts.Adapter = a
	}
	srv, err := sockhop.New(opts)
	if err != nil {
		return nil, err
	}
	sockhop.OnRequest(srv, "join", func(ctx context.Context, s *sockhop.Session, room string) (bool, error) {
		return true, s.Join(ctx, room)
	})
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
		return v, nil
	})
	sockhop.OnRequest(srv, "bcast", func(ctx context.Context, s *sockhop.Session, b bcastReq) (int, error) {
		p := payload(b.S)
		to := srv.To(b.Room)
		for range b.M {
			if err := to.Emit(ctx, "b", p); err != nil {
				return 0, err
			}
		}
		return b.M, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	return mux, nil
}
