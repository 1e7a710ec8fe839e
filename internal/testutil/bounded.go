package testutil

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Bounded runs f (a teardown: closing a server, waiting for a proxy's goroutines) and fails
// t when f has not returned within d, with the stacks of the goroutines that matter, and
// returns then: a teardown that hangs is reported by the test that owns it, instead of
// holding the package until go test's timeout, whose dump a CI log may cut.
func Bounded(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Errorf("%s has not returned after %v; goroutines:\n\n%s", what, d, strings.Join(Leaks(), "\n\n"))
		fmt.Printf("testutil: %s hung in %s\n", what, t.Name()) // also where go test -v output is grepped
	}
}
