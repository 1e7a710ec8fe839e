// Package testutil holds helpers shared by sockhop's tests: a goroutine-leak check for
// TestMain, free loopback ports and child processes stopped by PID.
package testutil

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// ignoredLeaks are goroutines owned by the runtime, the testing package or long-lived
// process-wide pools of the standard library, which are not leaks of ours.
var ignoredLeaks = []string{
	"testing.Main(",
	"testing.tRunner(",
	"testing.(*M).",
	"testing.(*F).",
	"testing.runFuzzing(",
	"runtime.goexit",
	"created by os/signal.Notify",
	"os/signal.signal_recv",
	"runtime/trace.Start",
	"net/http.(*persistConn)", // idle keep-alive conns of http.DefaultTransport: closed below
	"created by net/http.(*Transport).dialConnFor",
	"testing/synctest",
	"transport/ws.(*poller).run", // the process's read poller (transport/ws/poll_linux.go)
}

// Grace is how long the leak check waits for goroutines the tests started to end.
const Grace = 5 * time.Second

// SockJSDisconnectDelay is the longest DisconnectDelay any test gives sockjs-go (sockhop's
// default, Options.SockJSDisconnectDelay). sockjs-go keeps one goroutine per SockJS session
// until that long after the session's last receiving request ended (see [lingers]), so the
// leak check gives those goroutines that much longer than [Grace]. A test that sets a longer
// delay must wait for its sessions itself.
const SockJSDisconnectDelay = 5 * time.Second

// lingerBound is how much longer than [Grace] a lingering goroutine may live: transport/sockjs
// forgets an ended session 2×DisconnectDelay after it ended, by a timer whose callback can
// be caught running (or waiting for a processor on a loaded machine) that late.
const lingerBound = 2 * SockJSDisconnectDelay

// Main runs the tests of a package and then fails the run when goroutines started by the
// tests are still alive after [Grace] (sockjs-go's lingering sessions: after Grace plus
// [SockJSDisconnectDelay]). Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(Grace, lingerBound); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "testutil: %d goroutine(s) leaked by the tests:\n\n%s\n",
				len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// Leaks returns the stacks of goroutines that are not the caller's and not in the ignore
// list. Tests that want a check at a finer grain can poll it.
func Leaks() []string {
	var out []string
	for i, g := range Stacks() {
		if i == 0 { // the calling goroutine
			continue
		}
		if interesting(g) {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// Stacks returns the stack of every goroutine, the caller's first, as [runtime.Stack]
// writes them (each starts "goroutine <id> [").
func Stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func interesting(stack string) bool {
	if strings.TrimSpace(stack) == "" {
		return false
	}
	for _, ig := range ignoredLeaks {
		if strings.Contains(stack, ig) {
			return false
		}
	}
	return true
}

// lingers reports whether stack is a goroutine that may rightly outlive the tests by up to
// a DisconnectDelay:
//   - the one sockjs-go keeps for a SockJS session after the session's last receiving
//     request (xhr, xhr_streaming) ended: it waits for the session's close, which the
//     session's DisconnectDelay timer brings (sockjs-go's Handler.sessionByRequest). Once
//     every test server is closed no request is left, so each ends within DisconnectDelay;
//   - a timer's callback (time.AfterFunc): sockjs-go's close of such a session, sockhop's
//     transport/sockjs forgetting a session DisconnectDelay after it ended. Those fire as
//     late as the delay after the last test, and can be caught running.
//
// One that outlives the bound is reported like any other goroutine.
func lingers(stack string) bool {
	return strings.Contains(stack, "created by github.com/igm/sockjs-go/v3/sockjs.(*Handler).sessionByRequest") ||
		strings.Contains(stack, "created by time.goFunc")
}

// waitForLeaks polls Leaks until none are left and returns what is left when time is up:
// after grace for any goroutine, after grace+linger when all that is left [lingers].
func waitForLeaks(grace, linger time.Duration) []string {
	start := time.Now()
	for {
		closeIdle()
		leaked := Leaks()
		if len(leaked) == 0 {
			return nil
		}
		waited := time.Since(start)
		if waited > grace+linger || waited > grace && slices.ContainsFunc(leaked, func(g string) bool { return !lingers(g) }) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closeIdle closes the keep-alive connections of the default HTTP client, which would
// otherwise show up as leaked readers.
func closeIdle() {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// CheckLeaks fails t when goroutines are left over after grace (sockjs-go's lingering
// sessions: after grace plus [SockJSDisconnectDelay]). It is for tests that start and stop
// their own servers and want the check near the cause.
func CheckLeaks(t testing.TB, grace time.Duration) {
	t.Helper()
	if leaked := waitForLeaks(grace, lingerBound); len(leaked) > 0 {
		t.Errorf("%d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}
