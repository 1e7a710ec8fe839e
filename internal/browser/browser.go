// Package browser drives headless Chromium for sockhop's browser tests: the client-js tests
// (internal/browsertest), the reverse-proxy tests (internal/proxytest) and the examples'
// browser tests all use it. It runs driver.mjs (node, with the playwright-core of
// client-js/node_modules) against Debian's chromium; no browser is ever downloaded.
//
// A [Browser] is one node + Chromium process pair, stopped by its process group when the
// test that started it ends. A [Page] is a tab in a browser context of its own; its methods
// fail the test that opened it, with what the page logged and sent on the wire.
//
// Tests skip (fail with CI=true) when Chromium, node or client-js/node_modules is missing.
// Screenshots go to [ArtifactDir].
package browser

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// Require returns the path of Debian's chromium once it, node and
// client-js/node_modules/playwright-core are all there. Otherwise it skips t with what to
// install, or fails t when CI=true: CI must run the browser tests. Under -short it skips t.
func Require(t testing.TB) string {
	t.Helper()
	testutil.ExternalDep(t, "a browser")
	var missing []string
	exe, err := exec.LookPath("chromium")
	if err != nil {
		missing = append(missing, "chromium (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(testutil.RepoRoot(t), "client-js", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "client-js/node_modules (cd client-js && npm ci)")
	}
	if len(missing) > 0 {
		testutil.MissingDep(t, "browser tests need "+strings.Join(missing, ", ")+"; bash .ci/install-deps.sh installs them")
	}
	return exe
}

// Browser is one node + Chromium process pair running driver.mjs.
type Browser struct {
	t      testing.TB // the test that started it
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan []byte   // from the stdout reader goroutine
	exited chan struct{} // closed when the driver has exited
	stderr testutil.SyncBuffer

	mu sync.Mutex // serialises commands
	id int        // guarded by mu
}

// Start launches Chromium, with args added to the usual headless flags (a proxy, a trusted
// certificate key), for t and all its subtests; it is stopped when t ends.
func Start(t testing.TB, args ...string) *Browser {
	t.Helper()
	exe := Require(t)
	root := testutil.RepoRoot(t)
	b := &Browser{t: t, lines: make(chan []byte, 16), exited: make(chan struct{})}
	b.cmd = exec.Command("node", append([]string{filepath.Join(root, "internal", "browser", "driver.mjs")}, args...)...)
	b.cmd.Env = append(os.Environ(), "SOCKHOP_CHROMIUM="+exe,
		"SOCKHOP_CLIENTJS="+filepath.Join(root, "client-js"), "TMPDIR="+t.TempDir())
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium's helpers die with the group
	b.cmd.Stderr = &b.stderr
	// A Chromium helper that left the process group must not hold Wait (and stop) by the
	// output pipes: after the driver exits, Wait waits this long for them, then closes them.
	b.cmd.WaitDelay = 5 * time.Second
	var err error
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(b.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			b.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(b.stop)
	if _, err := b.read(0, 60*time.Second); err != nil {
		t.Fatalf("browser did not start: %v\n%s", err, b.stderr.String())
	}
	return b
}

// stop asks the driver to quit, then kills what is left of its process group.
func (b *Browser) stop() {
	_, _ = io.WriteString(b.in, `{"id":-1,"op":"quit"}`+"\n")
	_ = b.in.Close()
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.t.Logf("browser did not quit; killing process group %d", b.cmd.Process.Pid)
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	<-b.exited
	for range b.lines { // until the reader goroutine ends
	}
}

type reply struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

func (b *Browser) read(id int, timeout time.Duration) (json.RawMessage, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				return nil, fmt.Errorf("browser driver exited: %s", b.stderr.String())
			}
			var r reply
			if err := json.Unmarshal(line, &r); err != nil {
				return nil, fmt.Errorf("bad driver line %q: %v", line, err)
			}
			if r.ID != id {
				continue // the answer to a command that timed out on our side
			}
			if !r.OK {
				return nil, errors.New(r.Error)
			}
			return r.Value, nil
		case <-deadline.C:
			return nil, fmt.Errorf("no answer in %v", timeout)
		}
	}
}

// do runs one driver command, bounded by timeout in the driver and here.
func (b *Browser) do(cmd map[string]any, timeout time.Duration) (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id++
	cmd["id"] = b.id
	cmd["timeout"] = timeout.Milliseconds()
	line, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	return b.read(b.id, timeout+10*time.Second)
}

// Viewport is the size of a page in CSS pixels; zero means 1280 x 720. Mobile emulates a
// phone (touch, device scale 2).
type Viewport struct {
	Width, Height int
	Mobile        bool
}

// Desktop and Phone are the viewports of the examples' screenshots.
var (
	Desktop = Viewport{Width: 1280, Height: 800}
	Phone   = Viewport{Width: 390, Height: 844, Mobile: true}
)

// Page is one tab in a browser context of its own.
type Page struct {
	b    *Browser
	t    testing.TB
	name string
}

// Open opens url (none when empty) in a new page named name, for t: a page of the same
// name is closed first. The page's methods fail t.
func (b *Browser) Open(t testing.TB, name, url string, vp Viewport) *Page {
	t.Helper()
	p := &Page{b: b, t: t, name: name}
	p.must(map[string]any{"op": "open", "url": url, "width": vp.Width, "height": vp.Height, "mobile": vp.Mobile}, 60*time.Second)
	return p
}

// Do runs one driver command (see driver.mjs) on the page and returns its value, or the
// error, without failing the test.
func (p *Page) Do(cmd map[string]any, timeout time.Duration) (json.RawMessage, error) {
	cmd["page"] = p.name
	return p.b.do(cmd, timeout)
}

func (p *Page) must(cmd map[string]any, timeout time.Duration) json.RawMessage {
	p.t.Helper()
	v, err := p.Do(cmd, timeout)
	if err != nil {
		detail := ""
		if cmd["expr"] != nil {
			detail = fmt.Sprintf(" %.300s", cmd["expr"])
		}
		p.t.Fatalf("page %s: %v%s: %v\n%s", p.name, cmd["op"], detail, err, p.LogText())
	}
	return v
}

// Log returns what the page logged: console lines, page errors, HTTP requests and
// responses, WebSocket frames.
func (p *Page) Log() []string {
	v, err := p.Do(map[string]any{"op": "log"}, 5*time.Second)
	if err != nil {
		return []string{"(no page log: " + err.Error() + ")", "driver stderr: " + p.b.stderr.String()}
	}
	var lines []string
	_ = json.Unmarshal(v, &lines)
	return lines
}

// LogText is the end of Log, formatted for a failure message.
func (p *Page) LogText() string {
	lines := p.Log()
	if len(lines) > 300 {
		lines = append([]string{fmt.Sprintf("... %d lines before", len(lines)-300)}, lines[len(lines)-300:]...)
	}
	return "page " + p.name + " log:\n  " + strings.Join(lines, "\n  ")
}

// Eval evaluates a JavaScript expression in the page, awaiting a promise, for at most a
// minute, and decodes its value into out (nil: ignored).
func (p *Page) Eval(expr string, out any) {
	p.t.Helper()
	v := p.must(map[string]any{"op": "eval", "expr": expr}, time.Minute)
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			p.t.Fatalf("page %s: eval %.300s: decoding %.300s: %v", p.name, expr, v, err)
		}
	}
}

// Wait waits up to 15 s until the expression is truthy in the page.
func (p *Page) Wait(expr string) {
	p.t.Helper()
	p.WaitWithin(15*time.Second, expr)
}

// WaitWithin is Wait bounded by timeout.
func (p *Page) WaitWithin(timeout time.Duration, expr string) {
	p.t.Helper()
	p.must(map[string]any{"op": "wait", "expr": expr}, timeout)
}

// Text returns the textContent of the first element matching selector ("" for none).
func (p *Page) Text(selector string) string {
	p.t.Helper()
	var s string
	p.Eval(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ''`, jsString(selector)), &s)
	return s
}

// WaitText waits up to 15 s until the element matching selector contains text.
func (p *Page) WaitText(selector, text string) {
	p.t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%s) || {}).textContent?.includes(%s)`, jsString(selector), jsString(text))
	if _, err := p.Do(map[string]any{"op": "wait", "expr": expr}, 15*time.Second); err != nil {
		p.t.Fatalf("page %s: %s never contained %q: %v\nit has: %q\nerror line: %q\n%s",
			p.name, selector, text, err, p.Text(selector), p.Text("#error"), p.LogText())
	}
}

// Goto navigates the page to url; storage (the remembered transport) is kept.
func (p *Page) Goto(url string) {
	p.t.Helper()
	p.must(map[string]any{"op": "goto", "url": url}, 30*time.Second)
}

// Resize sets the page's viewport to width x height CSS pixels.
func (p *Page) Resize(width, height int) {
	p.t.Helper()
	p.must(map[string]any{"op": "viewport", "width": width, "height": height}, 15*time.Second)
}

// Offline takes the page's context off the network, or back on.
func (p *Page) Offline(offline bool) {
	p.t.Helper()
	p.must(map[string]any{"op": "offline", "value": offline}, 15*time.Second)
}

// Close closes the page and its context.
func (p *Page) Close() {
	p.t.Helper()
	p.must(map[string]any{"op": "close"}, 15*time.Second)
}

// CloseTab closes the page as a user closes a tab, running its unload handlers (pagehide),
// then its context.
func (p *Page) CloseTab() {
	p.t.Helper()
	p.must(map[string]any{"op": "closetab"}, 30*time.Second)
}

// Screenshot writes a PNG of the viewport, or of the whole page when full, to path.
func (p *Page) Screenshot(path string, full bool) {
	p.t.Helper()
	p.must(map[string]any{"op": "shot", "path": path, "full": full}, 30*time.Second)
}

// Fill types text into the input matching selector, replacing its value.
func (p *Page) Fill(selector, text string) {
	p.t.Helper()
	p.input("fill", selector, text)
}

// Press presses key ("Enter") in the element matching selector.
func (p *Page) Press(selector, key string) {
	p.t.Helper()
	p.input("press", selector, key)
}

// Click clicks the element matching selector.
func (p *Page) Click(selector string) {
	p.t.Helper()
	p.input("click", selector, "")
}

// input does what a user does to the element matching selector.
func (p *Page) input(op, selector, value string) {
	p.t.Helper()
	p.must(map[string]any{"op": op, "selector": selector, "value": value}, 15*time.Second)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ArtifactDir is where screenshots go: $SOCKHOP_ARTIFACTS/<sub> when that is set, else a
// temp dir of t.
func ArtifactDir(t testing.TB, sub string) string {
	t.Helper()
	d := os.Getenv("SOCKHOP_ARTIFACTS")
	if d == "" {
		return t.TempDir()
	}
	d = filepath.Join(d, sub)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
