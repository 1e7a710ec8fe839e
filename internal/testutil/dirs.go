package testutil

import (
	"os"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// WorkDir returns a fresh directory that unprivileged worker processes (nginx's nobody,
// Apache's www-data) may enter, removed when t ends (t.TempDir is 0700).
func WorkDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sockhop-"+prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}
