package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sockhop/sockhop"
)

// transports are the label values of transport; the last is for any other name.
var transports = [...]string{"websocket", "xhr-streaming", "xhr-polling", "other"}

// transportIndex returns the index in transports of name.
func transportIndex(name string) int {
	for i, t := range transports[:len(transports)-1] {
		if t == name {
			return i
		}
	}
	return len(transports) - 1
}

// knownCodes are the close codes that get a label value of their own; any other is "other".
var knownCodes = []int{
	1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1013,
	4000, 4001, 4002, 4003, 4500, 4501, 4503, 4504,
}

// codeLabel is the label value of a close code.
func codeLabel(code int) string {
	for _, c := range knownCodes {
		if c == code {
			return strconv.Itoa(code)
		}
	}
	return "other"
}

// limitLabel is the label value of a refusal's limit.
func limitLabel(limit string) string {
	switch limit {
	case "per_address", "handshakes", "connect_rate":
		return limit
	}
	return "none"
}

// Metrics is a [sockhop.Observer] that keeps Prometheus metrics. Create it with [New] and
// set it as sockhop.Options.Observer.
type Metrics struct {
	sockhop.NopObserver // methods added to Observer later do nothing until handled here

	open         *prometheus.GaugeVec
	opened       *prometheus.CounterVec
	resumed      *prometheus.CounterVec
	closed       *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec
	upgrades     *prometheus.CounterVec
	slow         *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	refused      *prometheus.CounterVec
	handshake    *prometheus.HistogramVec
	resume       *prometheus.HistogramVec
	recipients   prometheus.Histogram
	publish      *prometheus.HistogramVec
	publishError *prometheus.CounterVec

	traffic [len(transports)]*traffic // resolved once, by transport
}

var _ sockhop.Observer = (*Metrics)(nil)

// traffic holds the counters of one transport, resolved from their vectors once.
type traffic struct {
	msgIn, msgOut, bytesIn, bytesOut, limited prometheus.Counter
}

// Received counts a frame read.
func (t *traffic) Received(messages, bytes int) {
	t.msgIn.Add(float64(messages))
	t.bytesIn.Add(float64(bytes))
}

// Sent counts a frame written.
func (t *traffic) Sent(messages, bytes int) {
	t.msgOut.Add(float64(messages))
	t.bytesOut.Add(float64(bytes))
}

// RateLimited counts refused messages.
func (t *traffic) RateLimited(messages int) { t.limited.Add(float64(messages)) }

// New returns Metrics registered on reg. It panics if reg already has metrics of the
// same names (as prometheus.MustRegister does): register one Metrics per registry.
func New(reg prometheus.Registerer) *Metrics {
	const ns = "sockhop"
	tr := []string{"transport"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets}, labels)
	}
	durations := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "sessions_open",
			Help: "Sessions open, by the transport they run on (last ran on, while waiting for a resume)."}, tr),
		opened:    counter("sessions_opened_total", "New sessions, by transport.", tr...),
		resumed:   counter("sessions_resumed_total", "Resumes asked for, by transport and result (ok or failed).", "transport", "result"),
		closed:    counter("sessions_closed_total", "Sessions ended, by their last transport and close code.", "transport", "code"),
		fallbacks: counter("transport_fallbacks_total", "Sessions resumed onto a lower transport.", "from", "to"),
		upgrades:  counter("transport_upgrades_total", "Sessions resumed onto a higher transport.", "from", "to"),
		slow:      counter("slow_consumer_closes_total", "Sessions closed with 1013 because their send queue overflowed.", tr...),
		dropped:   counter("send_queue_dropped_messages_total", "Messages dropped with the send queues of slow consumers.", tr...),
		refused: counter("connections_refused_total",
			"Connections refused before a session began, by close code and the limit that refused them.", "transport", "code", "limit"),
		handshake: hist("handshake_duration_seconds", "From accepting a connection to welcoming its new session.", durations, tr...),
		resume:    hist("resume_duration_seconds", "From accepting a connection to welcoming the session it resumes.", durations, tr...),
		recipients: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "broadcast_recipients",
			Help: "Local sessions a broadcast was queued for.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		publish:      hist("adapter_publish_duration_seconds", "Adapter.Publish calls, by broker.", durations, "broker"),
		publishError: counter("adapter_publish_errors_total", "Adapter.Publish errors, by broker.", "broker"),
	}
	msgIn := counter("messages_received_total", "Messages (lines) read from clients, by transport.", tr...)
	msgOut := counter("messages_sent_total", "Messages written to clients, by transport.", tr...)
	bytesIn := counter("received_bytes_total", "Bytes of the frames read from clients, by transport.", tr...)
	bytesOut := counter("sent_bytes_total", "Bytes of the frames written to clients, by transport.", tr...)
	limited := counter("rate_limited_messages_total", "Messages refused for the message rate, by transport.", tr...)
	for i, t := range transports {
		m.traffic[i] = &traffic{
			msgIn: msgIn.WithLabelValues(t), msgOut: msgOut.WithLabelValues(t),
			bytesIn: bytesIn.WithLabelValues(t), bytesOut: bytesOut.WithLabelValues(t),
			limited: limited.WithLabelValues(t),
		}
		if t != "other" { // the known series exist from the start, at zero
			m.open.WithLabelValues(t)
			m.opened.WithLabelValues(t)
		}
	}
	reg.MustRegister(m.open, m.opened, m.resumed, m.closed, m.fallbacks, m.upgrades, m.slow,
		m.dropped, m.refused, m.handshake, m.resume, m.recipients, m.publish, m.publishError,
		msgIn, msgOut, bytesIn, bytesOut, limited)
	return m
}

// Traffic returns the counters of transport t.
func (m *Metrics) Traffic(t string) sockhop.TrafficObserver {
	return m.traffic[transportIndex(t)]
}

// label returns the transport label value of name.
func label(name string) string { return transports[transportIndex(name)] }

// SessionOpened counts a new session.
func (m *Metrics) SessionOpened(t string, handshake time.Duration) {
	t = label(t)
	m.open.WithLabelValues(t).Inc()
	m.opened.WithLabelValues(t).Inc()
	m.handshake.WithLabelValues(t).Observe(handshake.Seconds())
}

// SessionResumed counts a resume, and a fallback or an upgrade when the transport changed.
func (m *Metrics) SessionResumed(from, to string, d time.Duration) {
	to = label(to)
	m.resumed.WithLabelValues(to, "ok").Inc()
	m.resume.WithLabelValues(to).Observe(d.Seconds())
	if from == "" {
		return
	}
	from = label(from)
	if from == to {
		return
	}
	m.open.WithLabelValues(from).Dec()
	m.open.WithLabelValues(to).Inc()
	switch rf, rt := sockhop.TransportRank(from), sockhop.TransportRank(to); {
	case rt < rf:
		m.fallbacks.WithLabelValues(from, to).Inc()
	case rt > rf:
		m.upgrades.WithLabelValues(from, to).Inc()
	}
}

// ResumeFailed counts a resume refused.
func (m *Metrics) ResumeFailed(t string) {
	m.resumed.WithLabelValues(label(t), "failed").Inc()
}

// SessionClosed counts the end of a session.
func (m *Metrics) SessionClosed(t string, code int) {
	t = label(t)
	m.open.WithLabelValues(t).Dec()
	m.closed.WithLabelValues(t, codeLabel(code)).Inc()
}

// ConnectionRefused counts a refused connection.
func (m *Metrics) ConnectionRefused(t string, code int, limit string) {
	m.refused.WithLabelValues(label(t), codeLabel(code), limitLabel(limit)).Inc()
}

// SlowConsumer counts a slow-consumer close and the messages it dropped.
func (m *Metrics) SlowConsumer(t string, dropped int) {
	t = label(t)
	m.slow.WithLabelValues(t).Inc()
	m.dropped.WithLabelValues(t).Add(float64(dropped))
}

// Broadcast records the fan-out of a broadcast.
func (m *Metrics) Broadcast(recipients int) { m.recipients.Observe(float64(recipients)) }

// AdapterPublish records one Adapter.Publish.
func (m *Metrics) AdapterPublish(broker string, d time.Duration, err error) {
	m.publish.WithLabelValues(broker).Observe(d.Seconds())
	if err != nil {
		m.publishError.WithLabelValues(broker).Inc()
	}
}
