package testutil

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igm/sockjs-go/v3/sockjs"
)

func TestMain(m *testing.M) { Main(m) }

// openSockJSSession opens one SockJS session over xhr-polling on a sockjs-go handler with
// the given DisconnectDelay, lets the server close it at once, as sockhop's Shutdown does,
// and closes the HTTP server: what a test leaves behind. sockjs-go keeps a goroutine for the
// session until delay after its last request.
func openSockJSSession(t *testing.T, delay time.Duration) {
	t.Helper()
	opts := sockjs.DefaultOptions
	opts.DisconnectDelay = delay
	opts.HeartbeatDelay = time.Hour
	closed := make(chan struct{})
	h := sockjs.NewHandler("/sj", opts, func(s sockjs.Session) {
		_ = s.Close(1000, "bye")
		close(closed)
	})
	hs := httptest.NewServer(h)
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/sj/000/s1/xhr", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "o\n" {
		t.Fatalf("xhr answered %q, want the open frame", body)
	}
	<-closed
}

func onlyLingering(leaked []string) bool {
	return len(leaked) > 0 && !slices.ContainsFunc(leaked, func(g string) bool { return !lingers(g) })
}

// TestSockJSDisconnectDelay: a SockJS session's goroutine lingers for sockjs-go's
// DisconnectDelay after the test server is gone. A check with a grace shorter than the delay
// reports it (it did so in 1 run in 17 before: Grace equals the default delay); the check
// waits for it when allowed that delay; and it does not exempt such a goroutine beyond the
// bound it is given.
func TestSockJSDisconnectDelay(t *testing.T) {
	const delay = 3 * time.Second
	start := time.Now()
	openSockJSSession(t, delay)

	if leaked := waitForLeaks(100*time.Millisecond, 0); !onlyLingering(leaked) {
		t.Fatalf("right after the server closed, want sockjs-go's lingering session goroutine alone; got %d:\n%s",
			len(leaked), strings.Join(leaked, "\n\n"))
	}
	if leaked := waitForLeaks(100*time.Millisecond, 300*time.Millisecond); !onlyLingering(leaked) {
		t.Fatalf("a linger bound shorter than the delay must still report the session goroutine; got %d", len(leaked))
	}
	if time.Since(start) > delay-time.Second {
		t.Fatalf("the machine is too slow for this test: %v gone before the checks above ended", time.Since(start))
	}
	if leaked := waitForLeaks(100*time.Millisecond, delay+Grace); len(leaked) > 0 {
		t.Fatalf("with the delay allowed, %d goroutine(s) still left:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	if took := time.Since(start); took < delay {
		t.Errorf("the session goroutine ended after %v, before its DisconnectDelay %v: the test did not see it linger", took, delay)
	}
}

// TestRealLeakNotExcused: a goroutine of ours that never ends is reported after grace, even
// when sockjs-go's goroutines would be allowed much longer, and even next to one of those.
func TestRealLeakNotExcused(t *testing.T) {
	stop := make(chan struct{})
	go func() { <-stop }()
	defer close(stop)
	openSockJSSession(t, 3*time.Second)
	start := time.Now()
	leaked := waitForLeaks(200*time.Millisecond, time.Minute)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a real leak was reported after %v, want right after the 200ms grace", took)
	}
	if !slices.ContainsFunc(leaked, func(g string) bool { return strings.Contains(g, "TestRealLeakNotExcused.func") }) {
		t.Fatalf("the leaked goroutine was not reported; got:\n%s", strings.Join(leaked, "\n\n"))
	}
}

// TestTimerCallbacks: a timer's callback caught running at the end of the grace (sockhop's
// transport/sockjs forgets a session DisconnectDelay after it ended) is given the linger
// bound to finish; one that blocks beyond that bound is reported.
func TestTimerCallbacks(t *testing.T) {
	running := make(chan struct{})
	time.AfterFunc(time.Millisecond, func() {
		close(running)
		time.Sleep(500 * time.Millisecond)
	})
	<-running
	start := time.Now()
	if leaked := waitForLeaks(100*time.Millisecond, 5*time.Second); len(leaked) > 0 {
		t.Fatalf("a timer callback that ends was reported:\n%s", strings.Join(leaked, "\n\n"))
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("the check returned after %v, before the callback ended", took)
	}

	stop := make(chan struct{})
	defer close(stop)
	blocked := make(chan struct{})
	time.AfterFunc(time.Millisecond, func() {
		close(blocked)
		<-stop
	})
	<-blocked
	if leaked := waitForLeaks(100*time.Millisecond, 300*time.Millisecond); !onlyLingering(leaked) {
		t.Fatalf("a timer callback blocked beyond the bound must be reported; got %d", len(leaked))
	}
}

// TestBounded: a teardown that returns in time passes; one that hangs fails the test (seen
// through a testing.TB that records Errorf) and Bounded returns without waiting for it.
func TestBounded(t *testing.T) {
	Bounded(t, time.Second, "a quick teardown", func() {})
	rec := &recordTB{TB: t}
	release := make(chan struct{})
	Bounded(rec, 50*time.Millisecond, "a hung teardown", func() { <-release })
	close(release)
	if !strings.Contains(rec.msg, "a hung teardown has not returned after 50ms") || !strings.Contains(rec.msg, "goroutine ") {
		t.Errorf("Bounded reported %q, want the hang and the goroutines", rec.msg)
	}
}

type recordTB struct {
	testing.TB
	msg string
}

func (r *recordTB) Errorf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }
func (r *recordTB) Helper()                           {}
