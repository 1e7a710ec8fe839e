package testutil

import (
	"os"
	"testing"
)

// MissingDep skips t for a dependency this machine lacks (a browser, redis-server, a proxy
// module), or fails it when CI=true: CI installs every dependency (.ci/install-deps.sh), so
// there a skip would be a hole, not a convenience.
func MissingDep(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ExternalDep skips t under -short (`make check`, the fast inner loop): a test that needs a
// program outside Go (a browser, nginx or Apache, redis-server) runs in `make test` only.
// Call it before MissingDep's checks, from each helper that starts such a program.
func ExternalDep(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs " + what + " (make test runs it)")
	}
}
