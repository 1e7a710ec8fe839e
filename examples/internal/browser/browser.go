// Package browser drives headless Chromium for the examples' browser tests, through
// driver.mjs and the playwright-core of client-js/node_modules. Tests skip (fail with
// CI=true) when Chromium, node or client-js/node_modules is missing.
package browser

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// Browser is one node + Chromium process pair.
type Browser struct {
	t      testing.TB
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan []byte
	exited chan struct{}
	stderr lockedBuffer
	mu     sync.Mutex // serialises commands
	id     int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dir is this package's directory; the module root is three levels up.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Start launches the browser for t and stops it (by process group) when t ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	root := filepath.Join(dir(), "..", "..", "..")
	clientJS := filepath.Join(root, "client-js")
	exe := testutil.RequireChromium(t)
	var err error
	b := &Browser{t: t, lines: make(chan []byte, 16), exited: make(chan struct{})}
	b.cmd = exec.Command("node", filepath.Join(dir(), "driver.mjs"))
	// playwright-core makes a fresh --user-data-dir under TMPDIR and removes it at exit.
	b.cmd.Env = append(os.Environ(), "SOCKHOP_CHROMIUM="+exe, "SOCKHOP_CLIENTJS="+clientJS, "TMPDIR="+t.TempDir())
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.Stderr = &b.stderr
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

func (b *Browser) stop() {
	_, _ = io.WriteString(b.in, `{"id":-1,"op":"quit"}`+"\n")
	_ = b.in.Close()
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.t.Logf("browser did not quit; killing process group %d", b.cmd.Process.Pid)
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) // Chromium helpers left behind
	<-b.exited
	for range b.lines {
	}
}

type reply struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

func (b *Browser) read(id int, timeout time.Duration) (json.RawMessage, error) {
	deadline := time.After(timeout)
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
				continue
			}
			if !r.OK {
				return nil, errors.New(r.Error)
			}
			return r.Value, nil
		case <-deadline:
			return nil, fmt.Errorf("no answer in %v", timeout)
		}
	}
}

// Do runs one driver command and returns its value.
func (b *Browser) Do(cmd map[string]any) (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id++
	cmd["id"] = b.id
	timeout := 15 * time.Second
	if ms, ok := cmd["timeout"].(int64); ok {
		timeout = time.Duration(ms) * time.Millisecond
	}
	line, _ := json.Marshal(cmd)
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	return b.read(b.id, timeout+10*time.Second)
}

// Page is one tab in its own browser context.
type Page struct {
	b    *Browser
	t    testing.TB
	name string
}

// Open opens url in a new page of width x height CSS pixels (a width under 600 emulates
// a phone).
func (b *Browser) Open(t testing.TB, name, url string, width, height int) *Page {
	t.Helper()
	p := &Page{b: b, t: t, name: name}
	p.must(map[string]any{"op": "open", "url": url, "width": width, "height": height})
	return p
}

func (p *Page) must(cmd map[string]any) json.RawMessage {
	p.t.Helper()
	cmd["page"] = p.name
	v, err := p.b.Do(cmd)
	if err != nil {
		logs, _ := p.b.Do(map[string]any{"op": "log", "page": p.name})
		p.t.Fatalf("page %s: %v %v: %v\npage log: %s", p.name, cmd["op"], cmd["expr"], err, logs)
	}
	return v
}

// Eval evaluates a JavaScript expression in the page and decodes its value into out
// (nil: ignored).
func (p *Page) Eval(expr string, out any) {
	p.t.Helper()
	v := p.must(map[string]any{"op": "eval", "expr": expr})
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			p.t.Fatalf("eval %s: %v", expr, err)
		}
	}
}

// Text returns the textContent of the first element matching selector ("" for none).
func (p *Page) Text(selector string) string {
	p.t.Helper()
	var s string
	b, _ := json.Marshal(selector)
	p.Eval(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ''`, b), &s)
	return s
}

// Wait waits until the expression is truthy in the page.
func (p *Page) Wait(expr string) {
	p.t.Helper()
	p.must(map[string]any{"op": "wait", "expr": expr, "timeout": int64(15000)})
}

// WaitText waits until the element matching selector contains text.
func (p *Page) WaitText(selector, text string) {
	p.t.Helper()
	s, _ := json.Marshal(selector)
	x, _ := json.Marshal(text)
	cmd := map[string]any{"op": "wait", "page": p.name, "timeout": int64(15000),
		"expr": fmt.Sprintf(`(document.querySelector(%s) || {}).textContent?.includes(%s)`, s, x)}
	if _, err := p.b.Do(cmd); err != nil {
		logs, _ := p.b.Do(map[string]any{"op": "log", "page": p.name})
		p.t.Fatalf("page %s: %s never contained %q: %v\nit has: %q\nerror line: %q\npage log: %s", p.name, selector, text, err, p.Text(selector), p.Text("#error"), logs)
	}
}

// Fill types text into the input matching selector (replacing its value).
func (p *Page) Fill(selector, text string) {
	p.t.Helper()
	p.must(map[string]any{"op": "fill", "selector": selector, "text": text})
}

// Press presses key in the element matching selector.
func (p *Page) Press(selector, key string) {
	p.t.Helper()
	p.must(map[string]any{"op": "press", "selector": selector, "key": key})
}

// Click clicks the element matching selector.
func (p *Page) Click(selector string) {
	p.t.Helper()
	p.must(map[string]any{"op": "click", "selector": selector})
}

// Screenshot writes a PNG of the viewport to path.
func (p *Page) Screenshot(path string) {
	p.t.Helper()
	p.must(map[string]any{"op": "shot", "path": path})
}

// Close closes the page and its context.
func (p *Page) Close() {
	p.t.Helper()
	p.must(map[string]any{"op": "close"})
}

// ArtifactDir is where screenshots go: $SOCKHOP_ARTIFACTS/<sub> when set, else a temp
// dir of t.
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
