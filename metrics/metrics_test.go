package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/dial"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/metrics"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// env is a sockhop server with metrics, mounted at /rt, and /metrics beside it.
type env struct {
	srv  *sockhop.Server
	base string // the server's mount URL
	url  string // /metrics
}

func newEnv(t *testing.T, opts sockhop.Options) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Observer = metrics.New(reg)
	srv, err := sockhop.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sockhop.On(srv, "echo", func(ctx context.Context, s *sockhop.Session, text string) error {
		return s.Emit(ctx, "echo", text)
	})
	sockhop.On(srv, "flood", func(ctx context.Context, s *sockhop.Session, n int) error {
		return s.Emit(ctx, "flood", strings.Repeat("x", n)) // past MaxQueueBytes: 1013
	})
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	return &env{srv: srv, base: hs.URL + "/rt", url: hs.URL + "/metrics"}
}

// scrape fetches /metrics and parses it with Prometheus's text parser.
func (e *env) scrape(t *testing.T) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	res, err := http.Get(e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams, body
}

// value returns the value of the sample of family name whose labels are all of
// labels ("k=v"), summed over the samples that match; a histogram gives its count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// waitFor scrapes until cond holds, for up to 5 s, and returns the last scrape.
func (e *env) waitFor(t *testing.T, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fams, body := e.scrape(t)
		if cond(fams) {
			return fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 5s; /metrics:\n%s", what, grep(body, "sockhop_"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func grep(body []byte, prefix string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(l, prefix) && !strings.Contains(l, "_bucket") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// raw is a connection that speaks the protocol by hand.
type raw struct {
	t *testing.T
	dial.Conn
	buf []events.Message // read, not returned yet
}

func dialRaw(t *testing.T, base, tr string, opts dial.Options) (*raw, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial.Dial(ctx, base, tr, opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close(1000, "") })
	return &raw{t: t, Conn: c}, nil
}

func (c *raw) send(frame string) {
	c.t.Helper()
	if err := c.WriteFrame([][]byte{[]byte(frame)}); err != nil {
		c.t.Fatalf("send %q: %v", frame, err)
	}
}

// until reads messages until one of type typ (not a ping) and returns it; an error ends
// the connection.
func (c *raw) until(typ string) (*events.Message, error) {
	for {
		for len(c.buf) > 0 {
			m := c.buf[0]
			c.buf = c.buf[1:]
			if m.T == typ {
				return &m, nil
			}
		}
		frame, err := c.ReadFrame()
		if err != nil {
			return nil, err
		}
		_ = events.Lines(frame, func(l []byte) error {
			if m, err := events.Decode(l); err == nil {
				c.buf = append(c.buf, m)
			}
			return nil
		})
	}
}

func (c *raw) hello(resume string) *events.Message {
	c.t.Helper()
	c.send(`{"t":"hello","v":1` + resume + `}`)
	m, err := c.until(events.TypeWelcome)
	if err != nil {
		c.t.Fatalf("hello: %v", err)
	}
	return m
}

// TestScriptedSessions opens, uses and closes sessions on every transport and checks
// the counts /metrics shows.
func TestScriptedSessions(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		e := newEnv(t, sockhop.Options{})
		c, err := dialRaw(t, e.base, tr, dial.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.hello("")
		e.waitFor(t, "one session open", func(f map[string]*dto.MetricFamily) bool {
			return value(f, "sockhop_sessions_open", "transport="+tr) == 1
		})
		c.send(`{"t":"ev","n":"echo","d":"hi"}` + "\n" + `{"t":"ev","n":"echo","d":"ho"}`)
		for range 2 {
			if _, err := c.until(events.TypeEvent); err != nil {
				t.Fatal(err)
			}
		}
		c.send(`{"t":"close","code":1000}`)
		f := e.waitFor(t, "the session closed with 1000", func(f map[string]*dto.MetricFamily) bool {
			return value(f, "sockhop_sessions_closed_total", "transport="+tr, "code=1000") == 1
		})
		checks := []struct {
			name   string
			labels []string
			want   float64
		}{
			{"sockhop_sessions_opened_total", []string{"transport=" + tr}, 1},
			{"sockhop_sessions_open", []string{"transport=" + tr}, 0},
			{"sockhop_handshake_duration_seconds", []string{"transport=" + tr}, 1},
			{"sockhop_sessions_closed_total", nil, 1},
			{"sockhop_transport_fallbacks_total", nil, 0},
			{"sockhop_connections_refused_total", nil, 0},
		}
		for _, c := range checks {
			if got := value(f, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		// hello + 2 events + close; the events' replies and the welcome out.
		if got := value(f, "sockhop_messages_received_total", "transport="+tr); got < 3 {
			t.Errorf("messages received = %v, want at least 3 (2 events and the close)", got)
		}
		if got := value(f, "sockhop_messages_sent_total", "transport="+tr); got < 3 {
			t.Errorf("messages sent = %v, want at least 3 (welcome and 2 replies)", got)
		}
		if value(f, "sockhop_received_bytes_total", "transport="+tr) == 0 || value(f, "sockhop_sent_bytes_total", "transport="+tr) == 0 {
			t.Error("no bytes counted")
		}
		for _, other := range testutil.Transports {
			if other != tr && value(f, "sockhop_messages_sent_total", "transport="+other) != 0 {
				t.Errorf("messages counted on %s", other)
			}
		}
	})
}

// TestFallback resumes a session from every transport onto every other and checks that a
// move down the ladder counts as a fallback and one up as an upgrade.
func TestFallback(t *testing.T) {
	for _, from := range testutil.Transports {
		for _, to := range testutil.Transports {
			if from == to {
				continue
			}
			t.Run(from+"->"+to, func(t *testing.T) {
				e := newEnv(t, sockhop.Options{})
				c1, err := dialRaw(t, e.base, from, dial.Options{})
				if err != nil {
					t.Fatal(err)
				}
				w := c1.hello("")
				c2, err := dialRaw(t, e.base, to, dial.Options{Resume: true})
				if err != nil {
					t.Fatal(err)
				}
				res, _ := json.Marshal(events.Resume{SID: w.SID, Token: w.Token})
				if w2 := c2.hello(`,"resume":` + string(res)); !w2.Resumed {
					t.Fatalf("not resumed: %+v", w2)
				}
				fallback := sockhop.TransportRank(to) < sockhop.TransportRank(from)
				kind, other := "sockhop_transport_upgrades_total", "sockhop_transport_fallbacks_total"
				if fallback {
					kind, other = other, kind
				}
				// The resume's counters are updated one after another: wait for all of them.
				f := e.waitFor(t, "the resume", func(f map[string]*dto.MetricFamily) bool {
					return value(f, "sockhop_sessions_resumed_total", "transport="+to, "result=ok") == 1 &&
						value(f, kind, "from="+from, "to="+to) == 1 &&
						value(f, "sockhop_sessions_open", "transport="+to) == 1 &&
						value(f, "sockhop_sessions_open", "transport="+from) == 0 &&
						value(f, "sockhop_resume_duration_seconds", "transport="+to) == 1
				})
				if got := value(f, kind, "from="+from, "to="+to); got != 1 {
					t.Errorf("%s{from=%s,to=%s} = %v, want 1", kind, from, to, got)
				}
				if got := value(f, other); got != 0 {
					t.Errorf("%s = %v, want 0", other, got)
				}
				if got := value(f, "sockhop_sessions_open", "transport="+to); got != 1 {
					t.Errorf("sessions open on %s = %v, want 1", to, got)
				}
				if got := value(f, "sockhop_sessions_open", "transport="+from); got != 0 {
					t.Errorf("sessions open on %s = %v, want 0", from, got)
				}
				if got := value(f, "sockhop_resume_duration_seconds", "transport="+to); got != 1 {
					t.Errorf("resume durations on %s = %v, want 1", to, got)
				}
				if got := value(f, "sockhop_sessions_opened_total"); got != 1 {
					t.Errorf("sessions opened = %v, want 1", got)
				}
			})
		}
	}
}

// TestResumeFailed: a resume of an unknown session counts as failed, and the new session
// it gets as opened.
func TestResumeFailed(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		e := newEnv(t, sockhop.Options{})
		c, err := dialRaw(t, e.base, tr, dial.Options{Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if w := c.hello(`,"resume":{"sid":"nope","token":"nope","seq":0}`); w.Resumed {
			t.Fatal("resumed an unknown session")
		}
		f := e.waitFor(t, "the failed resume", func(f map[string]*dto.MetricFamily) bool {
			return value(f, "sockhop_sessions_resumed_total", "transport="+tr, "result=failed") == 1
		})
		if got := value(f, "sockhop_sessions_opened_total", "transport="+tr); got != 1 {
			t.Errorf("sessions opened = %v, want 1", got)
		}
	})
}

// TestTryAgainLater: a 1013 is counted as a 1013, whether a limit refused the connection
// (per_address) or a session's queue overflowed (slow consumer).
func TestTryAgainLater(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		e := newEnv(t, sockhop.Options{MaxSessionsPerIP: 1, MaxQueueBytes: 4096})
		c1, err := dialRaw(t, e.base, tr, dial.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c1.hello("")
		// A second session from the same address: WebSocket closes it with 1013 after its
		// hello, SockJS answers its first request 429.
		if c2, err := dialRaw(t, e.base, tr, dial.Options{}); err == nil {
			c2.send(`{"t":"hello","v":1}`)
			if _, err := c2.until(events.TypeWelcome); err == nil {
				t.Fatal("a second session was welcomed")
			}
		}
		f := e.waitFor(t, "the refusal", func(f map[string]*dto.MetricFamily) bool {
			return value(f, "sockhop_connections_refused_total", "code=1013", "limit=per_address") == 1
		})
		if got := value(f, "sockhop_connections_refused_total", "transport="+tr); got != 1 {
			t.Errorf("refusals on %s = %v, want 1", tr, got)
		}
		c1.send(`{"t":"ev","n":"flood","d":8000}`)
		f = e.waitFor(t, "the slow consumer's 1013", func(f map[string]*dto.MetricFamily) bool {
			return value(f, "sockhop_sessions_closed_total", "transport="+tr, "code=1013") == 1
		})
		if got := value(f, "sockhop_slow_consumer_closes_total", "transport="+tr); got != 1 {
			t.Errorf("slow consumer closes = %v, want 1", got)
		}
		if got := value(f, "sockhop_send_queue_dropped_messages_total", "transport="+tr); got < 1 {
			t.Errorf("dropped messages = %v, want at least 1", got)
		}
	})
}

// TestRateLimited: events past the message rate are counted on their transport.
func TestRateLimited(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		e := newEnv(t, sockhop.Options{MessageRate: 1, MessageBurst: 2})
		c, err := dialRaw(t, e.base, tr, dial.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.hello("")
		c.send(strings.Repeat(`{"t":"ev","n":"echo","d":"x"}`+"\n", 3) + `{"t":"ev","n":"echo","d":"x"}`)
		e.waitFor(t, "two refused messages", func(f map[string]*dto.MetricFamily) bool {
			return value(f, "sockhop_rate_limited_messages_total", "transport="+tr) == 2
		})
	})
}

// TestBroadcastAndPublish: a broadcast records its fan-out and the adapter's publish.
func TestBroadcastAndPublish(t *testing.T) {
	e := newEnv(t, sockhop.Options{})
	e.srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "lobby") })
	for range 3 {
		c, err := dialRaw(t, e.base, "websocket", dial.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.hello("")
	}
	if err := e.srv.To("lobby").Emit(context.Background(), "news", "hi"); err != nil {
		t.Fatal(err)
	}
	f, _ := e.scrape(t)
	h := f["sockhop_broadcast_recipients"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 3 {
		t.Errorf("broadcast recipients: %d broadcasts, %v recipients; want 1 and 3", h.GetSampleCount(), h.GetSampleSum())
	}
	if got := value(f, "sockhop_adapter_publish_duration_seconds", "broker=rooms"); got != 1 {
		t.Errorf("publishes = %v, want 1", got)
	}
	if got := value(f, "sockhop_adapter_publish_errors_total"); got != 0 {
		t.Errorf("publish errors = %v, want 0", got)
	}
}

// TestPromtool checks the output with promtool check metrics (Debian's prometheus package),
// after sessions on every transport.
func TestPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	e := newEnv(t, sockhop.Options{})
	for _, tr := range testutil.Transports {
		c, err := dialRaw(t, e.base, tr, dial.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.hello("")
		c.send(`{"t":"close","code":1000}`)
	}
	e.waitFor(t, "three sessions closed", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "sockhop_sessions_closed_total") == 3
	})
	_, body := e.scrape(t)
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestRegistryOwn: New registers on the registry given, never the global one, and twice
// on one registry panics as MustRegister does.
func TestRegistryOwn(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	metrics.New(prometheus.NewRegistry())
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "sockhop_") {
			t.Fatalf("%s on the global registry", f.GetName())
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("registering twice did not panic")
		}
	}()
	metrics.New(reg)
}
