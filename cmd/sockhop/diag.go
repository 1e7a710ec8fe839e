package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
)

// The check's constants, the same as the diag page's (diag/diag.js).
const (
	diagOpenTimeout = 3 * time.Second // the clients' default openTimeout: what apps see
	diagRounds      = 5               // round trips per transport
	diagAckTimeout  = 5 * time.Second
	diagEvent       = "sockhop:diag"
)

// diagTransports are the transports in the order of the clients' ladder.
var diagTransports = []string{client.WebSocket, client.XHRStreaming, client.XHRPolling}

const diagUsage = `usage: sockhop diag [flags] URL

Checks a sockhop mount from this terminal as the <mount>/diag page does in a browser:
the clients' ladder of transports first, then each transport alone, five round trips
each; then the verdict and, for each transport that failed, the likely proxy problem.
URL is the mount ("https://app.example/rt") or its diag page (".../rt/diag").

Exit status: 0 connected, 1 nothing connected, 2 usage error, 3 with -strict: connected
only with a fallback.

Flags:
`

// diagConfig is what diag's flags say.
type diagConfig struct {
	mount    string
	proxy    string
	origin   string
	insecure bool
	json     bool
	strict   bool
}

func parseDiag(args []string, e *env) (*diagConfig, int) {
	c := &diagConfig{}
	fs := flag.NewFlagSet("sockhop diag", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), diagUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.proxy, "proxy", "", "go through this HTTP proxy (\"http://proxy:3128\"); default the environment's HTTP_PROXY, HTTPS_PROXY and NO_PROXY")
	fs.StringVar(&c.origin, "origin", "", "the Origin header to send, as a page of that origin would; default the URL's own origin, \"none\" for none")
	fs.BoolVar(&c.insecure, "insecure", false, "do not verify the server's TLS certificate (a self-signed one)")
	fs.BoolVar(&c.json, "json", false, "print the result as JSON (the fields of the diag page's window.sockhopDiag)")
	fs.BoolVar(&c.strict, "strict", false, "exit with 3 when only a fallback connects")
	// Flags may follow the URL too: sockhop diag URL -proxy P.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK
			}
			return nil, exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		fmt.Fprintln(e.stderr, "sockhop diag: want one URL, the sockhop mount (sockhop diag -h for help)")
		return nil, exitUsage
	}
	u, err := url.Parse(rest[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(e.stderr, "sockhop diag: %q is not an http:// or https:// URL\n", rest[0])
		return nil, exitUsage
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/diag")
	c.mount = u.String()
	if c.proxy != "" {
		if p, err := url.Parse(c.proxy); err != nil || p.Host == "" {
			fmt.Fprintf(e.stderr, "sockhop diag: -proxy %q is not a URL\n", c.proxy)
			return nil, exitUsage
		}
	}
	switch c.origin {
	case "":
		c.origin = u.Scheme + "://" + u.Host
	case "none":
		c.origin = ""
	}
	return c, exitOK
}

// runDiag is `sockhop diag`.
func runDiag(ctx context.Context, args []string, e *env) int {
	c, code := parseDiag(args, e)
	if c == nil {
		return code
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment, // as the Go client's WebSocket dialer does
		MaxIdleConnsPerHost: 4,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: c.insecure}, //nolint:gosec // -insecure asks for it
	}
	if c.proxy != "" {
		p, _ := url.Parse(c.proxy)
		tr.Proxy = http.ProxyURL(p)
	}
	defer tr.CloseIdleConnections()
	d := &diagnosis{cfg: c, hc: &http.Client{Transport: tr}, started: time.Now()}
	if c.proxy != "" && !e.proxyEnvWS {
		d.Notes = append(d.Notes, "the WebSocket attempt does not go through -proxy here")
	}
	if c.proxy != "" && e.proxyEnvWS {
		// The Go client dials WebSocket with the environment's proxy settings: give it
		// -proxy there (this process only). Go never proxies a loopback host that way.
		for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
			_ = os.Setenv(k, c.proxy)
		}
		if h := hostOf(c.mount); h == "localhost" || isLoopback(h) {
			d.Notes = append(d.Notes, "the WebSocket attempt does not go through -proxy for a loopback host")
		}
	}
	d.run(ctx)
	if c.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d)
	} else {
		d.print(e.stdout)
	}
	switch {
	case !d.OK:
		return exitFail
	case c.strict && d.Transport != client.WebSocket:
		return exitSlow
	}
	return exitOK
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func isLoopback(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// diagnosis is the result, with the diag page's field names.
type diagnosis struct {
	cfg     *diagConfig
	hc      *http.Client
	started time.Time

	URL        string         `json:"url"`
	OK         bool           `json:"ok"`
	Transport  string         `json:"transport"`
	ConnectMS  *int64         `json:"connect_ms"`
	Roundtrips int            `json:"roundtrips"`
	Error      string         `json:"error,omitempty"`
	Verdict    [3]string      `json:"verdict"` // class (good, slow, bad), title, text
	Ladder     *attempt       `json:"ladder"`
	Attempts   []*attempt     `json:"attempts"`
	Probes     probes         `json:"probes"`
	ServerSaw  map[string]any `json:"server_saw"`
	Notes      []string       `json:"notes,omitempty"`
	FinishedAt string         `json:"finished_at"`
}

type probes struct {
	Info   probe `json:"info"`
	Origin probe `json:"origin"`
}

type probe struct {
	Status int    `json:"status"` // 0: no answer
	MS     int64  `json:"ms"`
	Error  string `json:"error,omitempty"`
}

// attempt is one connection with some transports and its round trips.
type attempt struct {
	Transport  string         `json:"transport"`
	Tried      []string       `json:"tried"`
	OK         bool           `json:"ok"`
	Reached    bool           `json:"reached"`
	ConnectMS  *int64         `json:"connect_ms"`
	FailedMS   *int64         `json:"failed_ms"`
	Roundtrips int            `json:"roundtrips"`
	RTTMS      []float64      `json:"rtt_ms"`
	RTTMedian  *float64       `json:"rtt_median_ms"`
	Error      string         `json:"error,omitempty"`
	Detail     string         `json:"detail,omitempty"` // the Go client's error, beyond the page's words
	Cause      string         `json:"cause"`
	server     map[string]any // what the server saw of the request (its reply's headers)
}

func (d *diagnosis) run(ctx context.Context) {
	d.URL = d.cfg.mount
	d.Probes = d.probe(ctx)
	d.Ladder = d.attempt(ctx, diagTransports)
	for _, name := range diagTransports {
		d.Attempts = append(d.Attempts, d.attempt(ctx, []string{name}))
	}
	l := d.Ladder
	if l.Reached {
		d.Transport = l.Transport
	}
	d.Roundtrips, d.OK, d.ConnectMS = l.Roundtrips, l.OK, l.ConnectMS
	if !l.OK {
		d.Error = l.Error
		if d.Error == "" {
			d.Error = "did not connect"
		}
	}
	for _, a := range append(append([]*attempt(nil), d.Attempts...), l) {
		if d.ServerSaw == nil && a.server != nil {
			d.ServerSaw = a.server
		}
	}
	explain(d)
	d.Verdict = verdict(d)
	d.FinishedAt = time.Now().UTC().Format(time.RFC3339)
}

// probe checks that plain requests reach the server and that it accepts the origin: an
// xhr_send for a session that does not exist answers 404 when it does, 403 when not.
func (d *diagnosis) probe(ctx context.Context) probes {
	sid := "diag" + strconv.FormatUint(rand.Uint64(), 36)
	var p probes
	p.Info = d.fetch(ctx, http.MethodGet, d.cfg.mount+"/sockjs/info", nil)
	p.Origin = d.fetch(ctx, http.MethodPost, d.cfg.mount+"/sockjs/000/"+sid+"/xhr_send", http.Header{
		"Content-Type":  {"text/plain"},
		"X-Sockhop-Key": {"diagprobe-" + sid + "-0000000000"},
	})
	return p
}

func (d *diagnosis) fetch(ctx context.Context, method, u string, h http.Header) probe {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("[]")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return probe{Error: err.Error()}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if d.cfg.origin != "" {
		req.Header.Set("Origin", d.cfg.origin)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		msg := "request failed (blocked or unreachable)"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = "no answer within 5 s"
		}
		return probe{MS: time.Since(t0).Milliseconds(), Error: msg}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return probe{Status: resp.StatusCode, MS: time.Since(t0).Milliseconds()}
}

// diagPayload is what a round trip sends; the server echoes it.
type diagPayload struct {
	I    int    `json:"i"`
	Text string `json:"text"`
	Pad  string `json:"pad"`
}

// attempt connects with transports, as the page's attempt does, and makes the round trips.
func (d *diagnosis) attempt(ctx context.Context, transports []string) *attempt {
	a := &attempt{Tried: transports, RTTMS: []float64{}}
	if len(transports) == 1 {
		a.Transport = transports[0]
	}
	h := http.Header{}
	if d.cfg.origin != "" {
		h.Set("Origin", d.cfg.origin)
	}
	c := client.New(d.cfg.mount, client.Options{
		Transports: transports, Header: h, HTTPClient: d.hc, OpenTimeout: diagOpenTimeout,
		NoReconnect: true, AckTimeout: diagAckTimeout, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
	})
	defer func() { _ = c.Close() }()
	t0 := time.Now()
	cctx, cancel := context.WithTimeout(ctx, diagOpenTimeout*time.Duration(len(transports))+2*time.Second)
	err := c.Connect(cctx)
	cancel()
	if err != nil {
		ms := time.Since(t0).Milliseconds()
		a.FailedMS = &ms
		a.Error = connectError(err)
		a.Detail = err.Error()
		a.finish()
		return a
	}
	ms := time.Since(t0).Milliseconds()
	a.Reached, a.ConnectMS, a.Transport = true, &ms, c.Transport()
	for i := 1; i <= diagRounds; i++ {
		p := diagPayload{I: i, Text: "round trip " + strconv.Itoa(i) + " · héllo ✓ 😀", Pad: strings.Repeat("x", i*80)}
		want, _ := json.Marshal(p)
		r0 := time.Now()
		actx, cancel := context.WithTimeout(ctx, diagAckTimeout)
		raw, err := c.EmitWithAck(actx, diagEvent, p)
		cancel()
		if err != nil {
			a.Error = fmt.Sprintf("round trip %d failed: %s", i, errText(err))
			break
		}
		rtt := float64(time.Since(r0).Microseconds()/100) / 10
		var rep struct {
			Echo    json.RawMessage `json:"echo"`
			Headers map[string]any  `json:"headers"`
		}
		if json.Unmarshal(raw, &rep) != nil || !sameJSON(rep.Echo, want) {
			a.Error = fmt.Sprintf("round trip %d came back changed", i)
			break
		}
		a.RTTMS = append(a.RTTMS, rtt)
		a.Roundtrips++
		a.server = rep.Headers
	}
	a.finish()
	return a
}

func (a *attempt) finish() {
	a.RTTMedian = median(a.RTTMS)
	a.OK = a.Reached && a.Roundtrips == diagRounds && a.Error == ""
}

// connectError is what the page's attempt records for a failed connect: the server's
// error when it turned the session away (its close carried one, or a terminal code),
// else "did not connect".
func connectError(err error) string {
	var ce *events.CloseError
	if errors.As(err, &ce) && (ce.Err != nil || ce.Code >= 4500 && ce.Code < 5000) {
		return errText(err)
	}
	return "did not connect"
}

func errText(err error) string {
	var eb *events.ErrorBody
	if errors.As(err, &eb) {
		return eb.Code + ": " + eb.Message
	}
	return err.Error()
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

func median(xs []float64) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	v := s[m]
	if len(s)%2 == 0 {
		v = float64(int((s[m-1]+s[m])/2*10+0.5)) / 10
	}
	return &v
}
