package testutil

import (
	"os"
	"testing"
)

// MissingDep skips t for a dependency this machine lacks (a browser, redis-server, a proxy
// module), or fails it when CI=true: CI installs every dependency (ci/install-deps.sh), so
// there a skip would be a hole, not a convenience.
func MissingDep(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
