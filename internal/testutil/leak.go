// Package testutil holds helpers shared by sockhop's tests: a goroutine-leak check for
// TestMain, free loopback ports and child processes stopped by PID.
package testutil

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
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
}

// Main runs the tests of a package and then fails the run when goroutines started by the
// tests are still alive after a grace period. Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); len(leaked) > 0 {
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
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	stacks := strings.Split(string(buf), "\n\n")
	for i, g := range stacks {
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

func waitForLeaks(grace time.Duration) []string {
	deadline := time.Now().Add(grace)
	for {
		closeIdle()
		leaked := Leaks()
		if len(leaked) == 0 || time.Now().After(deadline) {
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

// CheckLeaks fails t when goroutines are left over after grace. It is for tests that start
// and stop their own servers and want the check near the cause.
func CheckLeaks(t testing.TB, grace time.Duration) {
	t.Helper()
	if leaked := waitForLeaks(grace); len(leaked) > 0 {
		t.Errorf("%d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}
