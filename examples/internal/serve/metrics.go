package serve

import (
	"flag"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/metrics"
)

// Metrics is the -metrics flag: Prometheus metrics at /metrics of the example's site.
type Metrics struct {
	On  bool
	reg *prometheus.Registry
	obs *metrics.Metrics
}

// Register defines -metrics on fs.
func (m *Metrics) Register(fs *flag.FlagSet) {
	fs.BoolVar(&m.On, "metrics", false, "serve Prometheus metrics at /metrics (sockhop's, Go's and the process's)")
}

// Observer returns the sockhop.Options.Observer for -metrics: nil when it is off.
func (m *Metrics) Observer() sockhop.Observer {
	if !m.On {
		return nil
	}
	if m.obs == nil {
		m.reg = prometheus.NewRegistry()
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m.obs = metrics.New(m.reg)
	}
	return m.obs
}

// Handler returns h, serving /metrics in front of it when -metrics is on.
func (m *Metrics) Handler(h http.Handler) http.Handler {
	if m.Observer() == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", h)
	return mux
}
