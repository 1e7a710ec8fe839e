package browser

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// fatalTB records a Fatalf and ends the goroutine, as testing.T does, without failing the
// test it wraps.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

const testHTML = `<!doctype html><meta charset="utf-8"><title>start</title>
<input id="in"><button id="go" onclick="document.title = 'clicked ' + document.getElementById('in').value">go</button>
<script>console.log('hello from the page')</script>`

// TestPage drives a page through each kind of step, then checks that a failing step fails
// the page's test with what the page logged.
func TestPage(t *testing.T) {
	b := Start(t)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, testHTML)
	}))
	defer hs.Close()

	p := b.Open(t, "steps", hs.URL+"/", Viewport{Width: 400, Height: 300})
	p.Fill("#in", "héllo")
	p.Press("#in", "Tab")
	p.Click("#go")
	p.Wait(`document.title.startsWith('clicked')`)
	if got := p.Text("title"); got != "clicked héllo" {
		t.Errorf("title %q after fill and click, want %q", got, "clicked héllo")
	}
	var size struct{ W, H int }
	p.Resize(390, 844)
	p.Eval(`({w: innerWidth, h: innerHeight})`, &size)
	if size.W != 390 || size.H != 844 {
		t.Errorf("viewport %+v after Resize(390, 844)", size)
	}
	shot := filepath.Join(t.TempDir(), "page.png")
	p.Screenshot(shot, true)
	if png, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot: %v, %d bytes", err, len(png))
	}
	p.Offline(true)
	var online bool
	p.Eval(`navigator.onLine`, &online)
	if online {
		t.Error("navigator.onLine after Offline(true)")
	}
	p.Close()

	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Open(ft, "failing", hs.URL+"/", Viewport{}).WaitWithin(500*time.Millisecond, "window.never")
	}()
	<-done
	for _, want := range []string{"page failing: wait", "timed out", "console.log: hello from the page", "http < 200 GET " + hs.URL + "/"} {
		if !strings.Contains(ft.msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, ft.msg)
		}
	}
}
