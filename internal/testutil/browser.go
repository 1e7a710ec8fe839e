package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// RepoRoot returns the repository's root: the nearest directory above the working
// directory that holds go.mod with the sockhop module.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/sockhop/sockhop\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: no sockhop go.mod above the working directory")
		}
		dir = parent
	}
}

// RequireChromium returns the path of Debian's chromium once it, node and
// client-js/node_modules/playwright-core are all there. Otherwise the test is skipped
// with what to install, or fails when CI=true: CI must run the browser tests.
func RequireChromium(t testing.TB) string {
	t.Helper()
	var missing []string
	exe, err := exec.LookPath("chromium")
	if err != nil {
		missing = append(missing, "chromium (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(RepoRoot(t), "client-js", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "client-js/node_modules (cd client-js && npm ci)")
	}
	if len(missing) > 0 {
		MissingDep(t, "browser tests need "+strings.Join(missing, ", ")+"; bash ci/install-deps.sh installs them")
	}
	return exe
}

// SyncBuffer is a bytes.Buffer that a child process's output copier and the test may use
// at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
