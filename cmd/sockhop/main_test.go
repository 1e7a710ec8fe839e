package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// syncBuf is a bytes.Buffer safe for the command's writers and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// execServer is a `sockhop exec` run in-process by a test.
type execServer struct {
	URL   string // http://127.0.0.1:P
	Mount string // URL + "/rt"
	Log   *syncBuf
}

// startExec runs `sockhop exec -addr 127.0.0.1:0 args...` until t ends; the command must
// then stop cleanly with status 0.
func startExec(t *testing.T, args ...string) *execServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	ready := make(chan serve.Info, 1)
	done := make(chan int, 1)
	e := &env{stdout: out, stderr: out, ready: func(l serve.Info) { ready <- l }}
	go func() { done <- run(ctx, append([]string{"exec", "-addr", "127.0.0.1:0"}, args...), e) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("sockhop exec exited with %d:\n%s", code, out)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("sockhop exec did not stop within 15s:\n%s", out)
		}
		if t.Failed() {
			t.Logf("sockhop exec's log:\n%s", tail(out.String(), 6000))
		}
	})
	select {
	case l := <-ready:
		return &execServer{URL: l.URL, Mount: l.URL + "/rt", Log: out}
	case code := <-done:
		t.Fatalf("sockhop exec exited with %d:\n%s", code, out)
	case <-time.After(10 * time.Second):
		t.Fatalf("sockhop exec did not listen within 10s:\n%s", out)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// session is a Go client of an exec server with what it received.
type session struct {
	c     *client.Client
	mu    sync.Mutex
	lines []string
	exits []exitEvent
	kick  chan struct{}
}

// dialOpts are the client options of the tests' sessions.
func dialOpts(tr string) client.Options {
	return client.Options{Transports: []string{tr}, NoReconnect: true}
}

// dial connects to s on transport tr and records its "line" and "exit" events; the
// client is closed when t ends.
func dial(t testing.TB, s *execServer, opts client.Options) *session {
	t.Helper()
	ss := newSession(s, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ss.c.Connect(ctx); err != nil {
		t.Fatalf("connect over %v: %v", opts.Transports, err)
	}
	t.Cleanup(func() { _ = ss.c.Close() })
	return ss
}

func newSession(s *execServer, opts client.Options) *session {
	ss := &session{c: client.New(s.Mount, opts), kick: make(chan struct{}, 1)}
	ss.c.On("line", func(_ context.Context, data json.RawMessage) {
		var l string
		_ = json.Unmarshal(data, &l)
		ss.mu.Lock()
		ss.lines = append(ss.lines, l)
		ss.mu.Unlock()
		ss.poke()
	})
	ss.c.On("exit", func(_ context.Context, data json.RawMessage) {
		var x exitEvent
		_ = json.Unmarshal(data, &x)
		ss.mu.Lock()
		ss.exits = append(ss.exits, x)
		ss.mu.Unlock()
		ss.poke()
	})
	return ss
}

func (ss *session) poke() {
	select {
	case ss.kick <- struct{}{}:
	default:
	}
}

// waitLines waits until the session has received n lines and returns them.
func (ss *session) waitLines(t testing.TB, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		ss.mu.Lock()
		got := append([]string(nil), ss.lines...)
		ss.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ss.kick:
		case <-deadline:
			t.Fatalf("got %d lines %.300q within %v, want %d", len(got), got, timeout, n)
		}
	}
}

// waitClosed waits until the client has stopped and returns the close code.
func (ss *session) waitClosed(t testing.TB, timeout time.Duration) (int, error) {
	t.Helper()
	select {
	case <-ss.c.Done():
		return events.CloseCode(ss.c.Err()), ss.c.Err()
	case <-time.After(timeout):
		t.Fatalf("session still open after %v", timeout)
	}
	return 0, nil
}

func (ss *session) send(t testing.TB, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ss.c.EmitWithAck(ctx, "line", line); err != nil {
		t.Fatalf("send %q: %v", line, err)
	}
}

// TestCommandLine: usage errors exit with 2, -h with 0, version prints the version.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "usage:"},
		{[]string{"nope"}, exitUsage, `unknown command "nope"`},
		{[]string{"version"}, exitOK, "sockhop "},
		{[]string{"help"}, exitOK, "sockhop exec [flags] -- PROGRAM"},
		{[]string{"help", "exec"}, exitOK, "-max-procs"},
		{[]string{"exec", "-h"}, exitOK, "-tls-self-signed"},
		{[]string{"exec", "--help"}, exitOK, "\"line\" both ways"},
		{[]string{"exec"}, exitUsage, "no program"},
		{[]string{"exec", "--", "/no/such/program"}, exitUsage, "/no/such/program"},
		{[]string{"exec", "-mount", "/", "--", "cat"}, exitUsage, "-mount"},
		{[]string{"exec", "-tls-cert", "x", "--", "cat"}, exitUsage, "go together"},
		{[]string{"exec", "-log-level", "loud", "--", "cat"}, exitUsage, "-log-level"},
		{[]string{"exec", "-max-line", "0", "--", "cat"}, exitUsage, "-max-line"},
		{[]string{"diag", "-h"}, exitOK, "-proxy"},
		{[]string{"diag"}, exitUsage, "want one URL"},
		{[]string{"diag", "ftp://x/rt"}, exitUsage, "not an http"},
		{[]string{"diag", "http://x/rt", "http://y/rt"}, exitUsage, "want one URL"},
		{[]string{"help", "gen"}, exitOK, "go:generate"},
		{[]string{"gen"}, exitUsage, "want a target: ts"},
		{[]string{"gen", "go"}, exitUsage, "want a target: ts"},
		{[]string{"gen", "ts", "-h"}, exitOK, "-check"},
		{[]string{"gen", "ts", "-check"}, exitUsage, "-check needs -o"},
	} {
		out := &syncBuf{}
		code := run(context.Background(), tc.args, &env{stdout: out, stderr: out})
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("sockhop %s: exit %d, want %d; output should contain %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.out, tail(out.String(), 2000))
		}
	}
}
