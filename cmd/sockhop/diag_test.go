package main

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// runDiagCmd runs `sockhop diag args...` and returns its exit status and output.
func runDiagCmd(t testing.TB, args ...string) (int, string) {
	t.Helper()
	out := &syncBuf{}
	t0 := time.Now()
	code := run(context.Background(), append([]string{"diag"}, args...), &env{stdout: out, stderr: out})
	t.Logf("sockhop diag %s: exit %d after %v:\n%s", strings.Join(args, " "), code, time.Since(t0).Round(time.Millisecond), out)
	return code, out.String()
}

// diagJSON runs `sockhop diag -json args...` and decodes its result.
func diagJSON(t testing.TB, args ...string) (int, *diagnosis) {
	t.Helper()
	code, out := runDiagCmd(t, append([]string{"-json"}, args...)...)
	var d diagnosis
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diag -json output: %v", err)
	}
	return code, &d
}

func (d *diagnosis) attemptOf(t testing.TB, name string) *attempt {
	t.Helper()
	for _, a := range d.Attempts {
		if a.Transport == name {
			return a
		}
	}
	t.Fatalf("no attempt for %s", name)
	return nil
}

// TestDiagDirect: every transport works against `sockhop exec` itself.
func TestDiagDirect(t *testing.T) {
	srv := startExec(t, "--", "cat")
	code, out := runDiagCmd(t, srv.Mount+"/diag")
	if code != exitOK || !strings.HasPrefix(out, "All good: connected with WebSocket\n") {
		t.Fatalf("exit %d, want 0 and the good verdict first", code)
	}
	for _, tr := range testutil.Transports {
		if !regexpLine(out, tr, "ok", "5/5") {
			t.Errorf("no ok row with 5/5 round trips for %s", tr)
		}
	}
	code, d := diagJSON(t, srv.Mount)
	if code != exitOK || !d.OK || d.Transport != "websocket" || d.Roundtrips != 5 || d.Verdict[0] != "good" || d.Probes.Origin.Status != 404 {
		t.Fatalf("exit %d, %+v", code, d)
	}
}

// regexpLine reports whether out has a line that starts with name and holds each word.
func regexpLine(out, name string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != name {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, " "+w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestDiagUpgradeStripped: behind a proxy that drops Upgrade, the verdict names the
// fallback and the WebSocket row blames the proxy's Upgrade headers; -strict exits 3.
func TestDiagUpgradeStripped(t *testing.T) {
	srv := startExec(t, "--", "cat")
	target, _ := url.Parse(srv.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded()
		pr.Out.Header.Del("Upgrade") // what a proxy set up without WebSocket in mind does
		pr.Out.Header.Del("Connection")
	}}
	px := httptest.NewServer(rp)
	defer px.Close()
	code, d := diagJSON(t, px.URL+"/rt")
	if code != exitOK || !d.OK || d.Transport != "xhr-streaming" {
		t.Fatalf("exit %d, ok %v on %q; want a fallback", code, d.OK, d.Transport)
	}
	if d.Verdict[1] != "Works, using a fallback: HTTP streaming" {
		t.Errorf("verdict %q", d.Verdict[1])
	}
	if ws := d.attemptOf(t, "websocket"); ws.OK || !strings.Contains(ws.Cause, "refused or stripped") {
		t.Errorf("websocket: ok %v, cause %q", ws.OK, ws.Cause)
	}
	if d.ServerSaw["x_forwarded_for"] != true {
		t.Errorf("server saw %v, want the proxy's X-Forwarded-For", d.ServerSaw)
	}
	if code, _ := runDiagCmd(t, "-strict", px.URL+"/rt"); code != exitSlow {
		t.Errorf("-strict: exit %d, want %d", code, exitSlow)
	}
}

// TestDiagOriginRefused: a page origin the server does not allow fails every transport,
// and the causes say why; nothing connects, so the exit status is 1.
func TestDiagOriginRefused(t *testing.T) {
	srv := startExec(t, "--", "cat")
	code, d := diagJSON(t, "-origin", "https://elsewhere.example", srv.Mount)
	if code != exitFail || d.OK || d.Probes.Origin.Status != 403 || d.Verdict[1] != "Could not connect" {
		t.Fatalf("exit %d, ok %v, origin probe %d, verdict %q", code, d.OK, d.Probes.Origin.Status, d.Verdict[1])
	}
	for _, a := range d.Attempts {
		if a.Reached || !strings.Contains(a.Cause, "refused this page's origin") {
			t.Errorf("%s: reached %v, cause %q", a.Transport, a.Reached, a.Cause)
		}
	}
}

// TestDiagUnreachable: nothing listening: blocked, exit 1.
func TestDiagUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	code, out := runDiagCmd(t, "http://"+addr+"/rt")
	if code != exitFail || !strings.HasPrefix(out, "Could not connect\n") || !strings.Contains(out, "Blocked: plain requests to the server failed too") {
		t.Fatalf("exit %d; want 1, the bad verdict and the blocked cause", code)
	}
}

// forwardProxy is an HTTP forward proxy: absolute-form requests and CONNECT tunnels.
type forwardProxy struct {
	requests atomic.Int64
	connects atomic.Int64
	tr       *http.Transport
	wg       sync.WaitGroup
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connects.Add(1)
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		// What net/http read ahead of the handler (its background read takes the first
		// byte the client sends) is in brw's reader: the tunnel starts with it.
		down, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, brw.Reader); up.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(down, up); down.Close() }()
		return
	}
	p.requests.Add(1)
	r.RequestURI = ""
	resp, err := p.tr.RoundTrip(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			_ = http.NewResponseController(w).Flush()
		}
		if err != nil {
			return
		}
	}
}

// TestDiagProxy: -proxy sends the check's HTTP requests and its WebSocket attempts (a
// CONNECT tunnel, even to this loopback host) through the proxy.
func TestDiagProxy(t *testing.T) {
	srv := startExec(t, "--", "cat")
	fp := &forwardProxy{tr: &http.Transport{}}
	px := httptest.NewServer(fp)
	defer func() {
		px.CloseClientConnections()
		px.Close()
		fp.wg.Wait()
		fp.tr.CloseIdleConnections()
	}()
	code, out := runDiagCmd(t, srv.Mount, "-proxy", px.URL)
	if code != exitOK || !strings.Contains(out, "proxy:     "+px.URL) {
		t.Fatalf("exit %d", code)
	}
	if fp.requests.Load() < 10 {
		t.Fatalf("the proxy saw %d requests, want the probes and every SockJS request", fp.requests.Load())
	}
	if fp.connects.Load() < 1 {
		t.Errorf("the proxy saw no CONNECT: the WebSocket attempts went around -proxy")
	}
	if strings.Contains(out, "does not go through -proxy") {
		t.Errorf("a note says WebSocket goes around -proxy")
	}
}

// TestDiagWordsMatchPage: every sentence of diag's causes and verdicts is the diag page's.
func TestDiagWordsMatchPage(t *testing.T) {
	js, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "diag", "diag.js"))
	if err != nil {
		t.Fatal(err)
	}
	page := strings.ReplaceAll(string(js), `\'`, `'`)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "explain.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "explain" && fd.Name.Name != "verdict" {
			continue
		}
		ast.Inspect(fd, func(node ast.Node) bool {
			lit, ok := node.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || len(s) < 12 {
				return true
			}
			n++
			if !strings.Contains(page, s) {
				t.Errorf("%s: %q is not in diag/diag.js", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
	if n < 20 {
		t.Fatalf("found %d sentences in explain and verdict, want them all", n)
	}
}

// TestDiagSelfSigned: exec serves HTTPS with -tls-self-signed and prints how to trust it;
// diag -insecure checks it, and without -insecure nothing connects.
func TestDiagSelfSigned(t *testing.T) {
	srv := startExec(t, "-tls-self-signed", "--", "cat")
	if !strings.HasPrefix(srv.URL, "https://") || !strings.Contains(srv.Log.String(), "--ignore-certificate-errors-spki-list=") {
		t.Fatalf("url %s; want https and the trust hints", srv.URL)
	}
	if code, d := diagJSON(t, "-insecure", srv.Mount); code != exitOK || d.Transport != "websocket" {
		t.Fatalf("-insecure: exit %d on %q", code, d.Transport)
	}
	if code, _ := runDiagCmd(t, srv.Mount); code != exitFail {
		t.Fatalf("without -insecure: exit %d, want 1 (the certificate is not trusted)", code)
	}
}
