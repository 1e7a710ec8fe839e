package proxytest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// diagAttempt is one entry of window.sockhopDiag.attempts (or its ladder).
type diagAttempt struct {
	Transport  string   `json:"transport"`
	OK         bool     `json:"ok"`
	Reached    bool     `json:"reached"`
	ConnectMS  *float64 `json:"connect_ms"`
	FailedMS   *float64 `json:"failed_ms"`
	Roundtrips int      `json:"roundtrips"`
	RTTMedian  *float64 `json:"rtt_median_ms"`
	Error      *string  `json:"error"`
	Cause      string   `json:"cause"`
}

// diagResult is window.sockhopDiag.
type diagResult struct {
	Transport  string          `json:"transport"`
	Roundtrips int             `json:"roundtrips"`
	OK         bool            `json:"ok"`
	ConnectMS  float64         `json:"connect_ms"`
	Error      *string         `json:"error"`
	Attempts   []diagAttempt   `json:"attempts"`
	Ladder     diagAttempt     `json:"ladder"`
	ServerSaw  map[string]any  `json:"server_saw"`
	Probes     json.RawMessage `json:"probes"`
	Report     string          `json:"report"`
}

func (d *diagResult) attempt(t testing.TB, name string) diagAttempt {
	t.Helper()
	for _, a := range d.Attempts {
		if a.Transport == name {
			return a
		}
	}
	t.Fatalf("no attempt for %s in %+v", name, d.Attempts)
	return diagAttempt{}
}

// appCheck is what an application page does through the proxy: connect with the default
// ladder, a 20,000-character acked echo, and a broadcast that comes back.
const appCheck = `(async () => {
  const t0 = performance.now();
  const s = sockhop.connect('/rt', { rememberTransport: 0 });
  await new Promise((res, rej) => { s.on('connect', res); setTimeout(() => rej(new Error('no connect within 15s')), 15000); });
  const connect_ms = Math.round(performance.now() - t0);
  const big = 'ü€'.repeat(10000);
  const got = await s.emitWithAck('echo', { big });
  const said = new Promise((res) => s.on('said', res));
  await s.emitWithAck('say', 'hello through the proxy ✓');
  const text = await said;
  const r = { transport: s.transport, connect_ms, big_ok: got.big === big, said: text };
  s.close();
  return r;
})()`

type appResult struct {
	Transport string  `json:"transport"`
	ConnectMS float64 `json:"connect_ms"`
	BigOK     bool    `json:"big_ok"`
	Said      string  `json:"said"`
}

// profile is one proxy setup and the outcome the docs promise for it.
type profile struct {
	want       string        // the transport the client ends on
	within     time.Duration // connected within (0: no bound beyond the ladder's)
	works      []string      // transports that work on their own
	fails      []string      // transports that fail on their own
	causeHints map[string]string
	shot       string // screenshot name, "" for none
	https      bool
}

// checkProfile loads <proxy>/rt/diag in Chromium, checks window.sockhopDiag against p, and
// runs the application check on the same page.
func checkProfile(t *testing.T, px *proxyServer, p profile, args ...string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			px.dumpLogs(t)
		}
	}()
	page := openDoctor(t, px, args...)
	var d diagResult
	page.Eval("window.sockhopDiag", &d)
	var app appResult
	page.Eval(appCheck, &app)
	var shot string
	if p.shot != "" {
		shot = filepath.Join(browser.ArtifactDir(t, "proxytest"), p.shot)
		page.Screenshot(shot, true)
		page.Resize(390, 844)
		page.Screenshot(strings.TrimSuffix(shot, ".png")+"-phone.png", true)
	}
	t.Logf("time to connected: %.0f ms on %s (doctor's ladder); application page: %.0f ms on %s",
		d.ConnectMS, d.Transport, app.ConnectMS, app.Transport)
	t.Logf("doctor report:\n%s", d.Report)
	if shot != "" {
		t.Logf("screenshots: %s and its -phone.png", shot)
	}
	log := page.Log()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Logf("browser log:\n  %s", strings.Join(log, "\n  "))
		t.Fatalf(format, args...)
	}
	for _, l := range log {
		if strings.Contains(l, "Content Security Policy") {
			fail("the doctor page broke its own CSP: %s", l)
		}
	}
	if !d.OK || d.Transport != p.want || d.Roundtrips != 5 {
		fail("doctor: ok=%v transport=%q roundtrips=%d error=%v; want ok on %s with 5 round trips", d.OK, d.Transport, d.Roundtrips, d.Error, p.want)
	}
	if p.within > 0 && time.Duration(d.ConnectMS)*time.Millisecond > p.within {
		fail("doctor: connected after %.0f ms, want within %v", d.ConnectMS, p.within)
	}
	for _, name := range p.works {
		if a := d.attempt(t, name); !a.OK || a.Roundtrips != 5 {
			fail("doctor: %s alone: ok=%v roundtrips=%d error=%v cause=%q; want it to work", name, a.OK, a.Roundtrips, a.Error, a.Cause)
		}
	}
	for _, name := range p.fails {
		a := d.attempt(t, name)
		if a.OK || a.Reached {
			fail("doctor: %s alone worked; want it to fail behind this proxy", name)
		}
		if hint := p.causeHints[name]; hint != "" && !strings.Contains(a.Cause, hint) {
			fail("doctor: %s failed with cause %q; want it to mention %q", name, a.Cause, hint)
		}
	}
	if d.ServerSaw == nil || d.ServerSaw["x_forwarded_for"] != true && p.want == "websocket" {
		fail("doctor: server saw headers %v; want X-Forwarded-For from the recipe", d.ServerSaw)
	}
	if p.https && d.ServerSaw["x_forwarded_proto"] != "https" {
		fail("doctor: server saw X-Forwarded-Proto %v, want https", d.ServerSaw["x_forwarded_proto"])
	}
	if app.Transport != p.want || !app.BigOK || app.Said != "hello through the proxy ✓" {
		fail("application page: %+v; want %s with the echo and broadcast intact", app, p.want)
	}
}

func TestNginxRecipe(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, nginxRecipe, nil)
	checkProfile(t, px, profile{
		want: "websocket", within: 2 * time.Second,
		works: []string{"websocket", "xhr-streaming", "xhr-polling"},
		shot:  "diag-nginx-recipe.png",
	})
}

func TestNginxTLSRecipe(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	dir := testutil.WorkDir(t, "tls")
	cert, key, spki := selfSigned(t, dir)
	px := startNginx(t, bin["nginx"], be.addr, nginxRecipe, &tlsFiles{cert: cert, key: key})
	if !strings.HasPrefix(px.url, "https://") {
		t.Fatal(px.url)
	}
	checkProfile(t, px, profile{
		want: "websocket", within: 2 * time.Second, https: true,
		works: []string{"websocket", "xhr-streaming", "xhr-polling"},
	}, "--ignore-certificate-errors-spki-list="+spki)
}

func TestNginxBareProxyPass(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, nginxBare, nil)
	checkProfile(t, px, profile{
		want: "xhr-streaming", within: 3 * time.Second,
		works:      []string{"xhr-streaming", "xhr-polling"},
		fails:      []string{"websocket"},
		causeHints: map[string]string{"websocket": "refused or stripped"},
	})
}

func TestNginxScanningProxy(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, nginxScanning, nil)
	checkProfile(t, px, profile{
		want: "xhr-polling", within: 6 * time.Second,
		works:      []string{"xhr-polling"},
		fails:      []string{"websocket", "xhr-streaming"},
		causeHints: map[string]string{"websocket": "refused or stripped", "xhr-streaming": "buffered"},
		shot:       "diag-nginx-buffering.png",
	})
}

func TestApacheRecipe(t *testing.T) {
	bin := need(t, "apache2", "browser")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_proxy_http.so")); err != nil {
		testutil.MissingDep(t, "no mod_proxy_http in "+apacheModules)
	}
	be := startBackend(t, sockhop.Options{})
	px := startApache(t, bin["apache2"], be.addr, apacheRecipe, nil)
	checkProfile(t, px, profile{
		want: "websocket", within: 2 * time.Second,
		works: []string{"websocket", "xhr-streaming", "xhr-polling"},
		shot:  "diag-apache-recipe.png",
	})
}

func TestApacheTLSRecipe(t *testing.T) {
	bin := need(t, "apache2", "browser")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_ssl.so")); err != nil {
		testutil.MissingDep(t, "no mod_ssl in "+apacheModules)
	}
	be := startBackend(t, sockhop.Options{})
	cert, key, spki := selfSigned(t, testutil.WorkDir(t, "tls"))
	px := startApache(t, bin["apache2"], be.addr, apacheRecipe, &tlsFiles{cert: cert, key: key})
	checkProfile(t, px, profile{
		want: "websocket", within: 2 * time.Second, https: true,
		works: []string{"websocket", "xhr-streaming", "xhr-polling"},
	}, "--ignore-certificate-errors-spki-list="+spki)
}

// heartbeatCheck holds one session for holdMs and reports every connect, disconnect and
// reconnect the page saw.
const heartbeatCheck = `(async (holdMs) => {
  const s = sockhop.connect('/rt', { rememberTransport: 0 });
  const ev = { connect: 0, disconnect: 0, reconnecting: 0 };
  for (const k of Object.keys(ev)) s.on(k, () => { ev[k]++; });
  await new Promise((res, rej) => { s.on('connect', res); setTimeout(() => rej(new Error('no connect within 15s')), 15000); });
  const id = s.id, transport = s.transport;
  await new Promise((res) => setTimeout(res, holdMs));
  const echo = await s.emitWithAck('echo', 'still here', { timeout: 5000 });
  const r = { ev: { ...ev }, transport, same_session: s.id === id, same_transport: s.transport === transport, echo };
  s.close(); // fires disconnect: ev was copied above
  return r;
})(HOLD)`

func TestNginxReadTimeoutBeatenByHeartbeat(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{PingInterval: 2 * time.Second})
	px := startNginx(t, bin["nginx"], be.addr, nginxShortTimeout, nil)
	hold := 30 * time.Second
	var r struct {
		Ev            map[string]int `json:"ev"`
		Transport     string         `json:"transport"`
		SameSession   bool           `json:"same_session"`
		SameTransport bool           `json:"same_transport"`
		Echo          string         `json:"echo"`
	}
	openDoctor(t, px).Eval(strings.Replace(heartbeatCheck, "HOLD", "30000", 1), &r)
	t.Logf("held %v behind proxy_read_timeout 5s with 2s pings: %+v", hold, r)
	if r.Transport != "websocket" || r.Ev["connect"] != 1 || r.Ev["disconnect"] != 0 || r.Ev["reconnecting"] != 0 ||
		!r.SameSession || !r.SameTransport || r.Echo != "still here" {
		px.dumpLogs(t)
		t.Fatalf("the session did not stay up: %+v", r)
	}
}

// TestNginxWithoutHost: the recipe without `proxy_set_header Host`: nginx sends the
// upstream's address as Host, the server's same-origin check refuses every transport (403),
// and the doctor says so.
func TestNginxWithoutHost(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, strings.Replace(nginxRecipe, "proxy_set_header Host $http_host;", "", 1), nil)
	var d diagResult
	openDoctor(t, px).Eval("window.sockhopDiag", &d)
	t.Logf("doctor report:\n%s", d.Report)
	if d.OK || d.Transport != "" {
		t.Fatalf("connected over %q; want every transport refused", d.Transport)
	}
	for _, a := range d.Attempts {
		if a.Reached || !strings.Contains(a.Cause, "Host") {
			t.Errorf("%s: reached=%v cause %q; want refused, blaming the Host header", a.Transport, a.Reached, a.Cause)
		}
	}
}

// TestApacheWithoutUpgrade: ProxyPass without upgrade=websocket drops the upgrade, and the
// client ends on xhr-streaming at once.
func TestApacheWithoutUpgrade(t *testing.T) {
	bin := need(t, "apache2", "browser")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_proxy_http.so")); err != nil {
		testutil.MissingDep(t, "no mod_proxy_http in "+apacheModules)
	}
	be := startBackend(t, sockhop.Options{})
	px := startApache(t, bin["apache2"], be.addr, strings.Replace(apacheRecipe, " upgrade=websocket", "", 1), nil)
	checkProfile(t, px, profile{
		want: "xhr-streaming", within: 3 * time.Second,
		works:      []string{"xhr-streaming", "xhr-polling"},
		fails:      []string{"websocket"},
		causeHints: map[string]string{"websocket": "refused or stripped"},
	})
}

// TestNginxReadTimeoutCutsWithoutHeartbeat is the control of the test above: with the
// default 25 s ping, nginx's 5 s proxy_read_timeout cuts the idle WebSocket, and the client
// reconnects (and resumes) on its own.
func TestNginxReadTimeoutCutsWithoutHeartbeat(t *testing.T) {
	bin := need(t, "nginx", "browser")
	be := startBackend(t, sockhop.Options{})
	px := startNginx(t, bin["nginx"], be.addr, nginxShortTimeout, nil)
	var r struct {
		Ev   map[string]int `json:"ev"`
		Echo string         `json:"echo"`
	}
	openDoctor(t, px).Eval(strings.Replace(heartbeatCheck, "HOLD", "8000", 1), &r)
	t.Logf("held 8s behind proxy_read_timeout 5s with 25s pings: %+v", r)
	if r.Ev["disconnect"] < 1 || r.Ev["connect"] < 2 || r.Echo != "still here" {
		t.Fatalf("want the idle cut to show as a disconnect and a reconnect: %+v", r)
	}
}
