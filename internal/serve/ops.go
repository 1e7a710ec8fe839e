package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/metrics"
)

// Ops are the operations flags every example takes: -metrics (Prometheus metrics at
// /metrics), -admin with -admin-password (sockhop's admin page at <mount>/admin, behind
// HTTP Basic authentication, user "admin"), and the heartbeat's -ping-interval,
// -min-ping-interval and -going-away-grace.
type Ops struct {
	Metrics         bool
	Admin           bool
	AdminPassword   string
	PingInterval    time.Duration
	MinPingInterval time.Duration
	GoingAwayGrace  time.Duration

	reg *prometheus.Registry
	obs *metrics.Metrics
}

// Register defines -metrics, -admin and -admin-password on fs.
func (o *Ops) Register(fs *flag.FlagSet) {
	fs.BoolVar(&o.Metrics, "metrics", false, "serve Prometheus metrics at /metrics (sockhop's, Go's and the process's)")
	fs.BoolVar(&o.Admin, "admin", false, "serve sockhop's admin page at <mount>/admin (needs -admin-password; user admin)")
	fs.StringVar(&o.AdminPassword, "admin-password", "", "password of the admin page (HTTP Basic, user admin)")
	fs.DurationVar(&o.PingInterval, "ping-interval", 0, "time between the server's heartbeat pings, and the longest a client may ask for (0: sockhop's 25s)")
	fs.DurationVar(&o.MinPingInterval, "min-ping-interval", 0, "shortest ping interval a client behind a proxy that cuts idle connections may ask for (0: sockhop's 5s)")
	fs.DurationVar(&o.GoingAwayGrace, "going-away-grace", 0, "how long a closed or reloading page's session is kept for a resume (0: sockhop's 1s)")
}

// Check reports a flag combination that cannot work.
func (o *Ops) Check() error {
	if o.Admin && o.AdminPassword == "" {
		return errors.New("-admin needs -admin-password: the admin page is never open")
	}
	if o.PingInterval < 0 || o.MinPingInterval < 0 || o.GoingAwayGrace < 0 {
		return errors.New("-ping-interval, -min-ping-interval and -going-away-grace cannot be negative")
	}
	if o.PingInterval > 0 && o.PingInterval < time.Second {
		return errors.New("-ping-interval under 1s would flood the clients with pings")
	}
	return nil
}

// Apply sets the Observer (-metrics), AdminAuthorize (-admin) and the heartbeat settings
// of opts.
func (o *Ops) Apply(opts *sockhop.Options) {
	opts.PingInterval = o.PingInterval
	opts.MinPingInterval = o.MinPingInterval
	opts.GoingAwayGrace = o.GoingAwayGrace
	if o.Metrics {
		if o.obs == nil {
			o.reg = prometheus.NewRegistry()
			o.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			o.obs = metrics.New(o.reg)
		}
		opts.Observer = o.obs
	}
	if o.Admin && o.AdminPassword != "" {
		want := sha256.Sum256([]byte(o.AdminPassword))
		opts.AdminAuthorize = func(r *http.Request) bool {
			user, pass, ok := r.BasicAuth()
			got := sha256.Sum256([]byte(pass)) // equal lengths for the constant-time compare
			return ok && user == "admin" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
		}
	}
}

// Handler returns h, serving /metrics in front of it when -metrics is on (call it after
// Apply).
func (o *Ops) Handler(h http.Handler) http.Handler {
	if o.reg == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", h)
	return mux
}
