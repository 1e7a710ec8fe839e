package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

// echoScript greets, then answers every line, and says goodbye at EOF.
const echoScript = `echo "ready $SOCKHOP_SESSION"; while IFS= read -r l; do echo "got: $l"; done; echo "eof"`

// TestExecLinesBothWays: the program's lines reach the client in order, the client's
// lines reach the program's stdin, "eof" closes it, and the program's exit (status 0)
// closes the session with 1000 after an "exit" event.
func TestExecLinesBothWays(t *testing.T) {
	srv := startExec(t, "--", "sh", "-c", echoScript)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		ss := dial(t, srv, dialOpts(tr))
		if got := ss.waitLines(t, 1, 10*time.Second); got[0] != "ready "+ss.c.SessionID() {
			t.Fatalf("first line %q, want the greeting with SOCKHOP_SESSION %s", got[0], ss.c.SessionID())
		}
		want := []string{"ready " + ss.c.SessionID()}
		for i, l := range []string{"hello", "  spaces and ünïcode ✓  ", "", strings.Repeat("x", 5000), "last"} {
			ss.send(t, l)
			want = append(want, "got: "+l)
			if i == 2 {
				ss.waitLines(t, len(want), 10*time.Second)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := ss.c.EmitWithAck(ctx, "eof", nil); err != nil {
			t.Fatalf("eof: %v", err)
		}
		want = append(want, "eof")
		got := ss.waitLines(t, len(want), 10*time.Second)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("lines\n%q\nwant\n%q", got, want)
		}
		code, err := ss.waitClosed(t, 10*time.Second)
		if code != 1000 {
			t.Fatalf("closed with %d (%v), want 1000 after the program's exit", code, err)
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if len(ss.exits) != 1 || ss.exits[0].Status == nil || *ss.exits[0].Status != 0 {
			t.Fatalf("exit events %+v, want one with status 0", ss.exits)
		}
	})
}

// TestExecExitStatus: a program that exits with a status closes its session with 4600,
// one killed by a signal with 4601, each after an "exit" event that says so.
func TestExecExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		code   int
		status int
		signal string
	}{
		{"status 3", "echo bye; exit 3", closeExited, 3, ""},
		{"signal", "echo bye; kill -KILL $$", closeSignaled, 0, "killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startExec(t, "--", "sh", "-c", tc.script)
			testutil.ForEachTransport(t, func(t *testing.T, tr string) {
				ss := dial(t, srv, dialOpts(tr))
				code, err := ss.waitClosed(t, 10*time.Second)
				if code != tc.code {
					t.Fatalf("closed with %d (%v), want %d", code, err, tc.code)
				}
				if got := ss.waitLines(t, 1, time.Second); got[0] != "bye" {
					t.Fatalf("lines %q, want bye before the close", got)
				}
				ss.mu.Lock()
				defer ss.mu.Unlock()
				if len(ss.exits) != 1 {
					t.Fatalf("exit events %+v, want one", ss.exits)
				}
				x := ss.exits[0]
				if tc.signal != "" && x.Signal != tc.signal || tc.signal == "" && (x.Status == nil || *x.Status != tc.status) {
					t.Fatalf("exit event %+v, want status %d signal %q", x, tc.status, tc.signal)
				}
			})
		})
	}
}

// TestExecCloseEndsProgram: when the client closes its session the program ends: at
// once on SIGTERM, or by SIGKILL after -kill-grace when it ignores SIGTERM; its child
// too (the process group). No zombie is left.
func TestExecCloseEndsProgram(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		within time.Duration
	}{
		{"sigterm", `sleep 300 & echo "$$ $!"; wait`, 3 * time.Second},
		{"ignores sigterm", `trap "" TERM; sleep 300 & echo "$$ $!"; while :; do wait; done`, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startExec(t, "-kill-grace", "500ms", "--", "sh", "-c", tc.script)
			testutil.ForEachTransport(t, func(t *testing.T, tr string) {
				ss := dial(t, srv, dialOpts(tr))
				var pids []int
				for _, f := range strings.Fields(ss.waitLines(t, 1, 10*time.Second)[0]) {
					pid, err := strconv.Atoi(f)
					if err != nil {
						t.Fatal(err)
					}
					pids = append(pids, pid)
				}
				t0 := time.Now()
				_ = ss.c.Close()
				for _, pid := range pids {
					waitGone(t, pid, tc.within)
				}
				t.Logf("%s: program and child gone %v after the close", tr, time.Since(t0).Round(time.Millisecond))
			})
		})
	}
}

// waitGone waits until pid no longer runs: gone, or a zombie that is not ours to reap
// (an orphaned child waits for init, which may take its time).
func waitGone(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		s := string(b)
		if f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); len(f) > 1 && f[0] == "Z" && f[1] != strconv.Itoa(os.Getpid()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still there %v after the session closed: %s", pid, within, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExecEnvironment: the program gets websocketd's CGI variables: the query string the
// client sent in its hello, the Origin, the remote address, the session id; -passenv
// limits what it inherits.
func TestExecEnvironment(t *testing.T) {
	t.Setenv("SOCKHOP_TEST_SECRET", "not for the program")
	script := `for v in QUERY_STRING HTTP_ORIGIN REMOTE_ADDR SOCKHOP_SESSION UNIQUE_ID SOCKHOP_TRANSPORT GATEWAY_INTERFACE SERVER_NAME HTTP_X_TEST SOCKHOP_TEST_SECRET; do eval "echo $v=\${$v-unset}"; done; exec cat`
	srv := startExec(t, "-passenv", "PATH", "--", "sh", "-c", script)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		opts := dialOpts(tr)
		opts.Auth = map[string]string{"query": "?name=me&msg=hello%20world"}
		opts.Header = http.Header{"Origin": {srv.URL}, "X-Test": {"yes"}}
		ss := dial(t, srv, opts)
		got := strings.Join(ss.waitLines(t, 10, 10*time.Second), "\n")
		for _, want := range []string{
			"QUERY_STRING=name=me&msg=hello%20world", "HTTP_ORIGIN=" + srv.URL, "REMOTE_ADDR=127.0.0.1",
			"SOCKHOP_SESSION=" + ss.c.SessionID(), "UNIQUE_ID=" + ss.c.SessionID(), "SOCKHOP_TRANSPORT=" + tr,
			"GATEWAY_INTERFACE=websocketd-CGI/0.1", "SERVER_NAME=127.0.0.1", "HTTP_X_TEST=yes", "SOCKHOP_TEST_SECRET=unset",
		} {
			if !strings.Contains(got+"\n", want+"\n") {
				t.Errorf("environment lacks %s:\n%s", want, got)
			}
		}
	})
}

// TestExecMaxProcs: past -max-procs a new session is closed with 1013 (try again later)
// before its welcome, and is served once a program has ended.
func TestExecMaxProcs(t *testing.T) {
	srv := startExec(t, "-max-procs", "1", "--", "cat")
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		first := dial(t, srv, dialOpts(tr))
		second := newSession(srv, dialOpts(tr))
		ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
		err := second.c.Connect(ctx)
		cancel()
		_ = second.c.Close()
		if err == nil || !strings.Contains(err.Error(), "1013") && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second session: %v, want refused with 1013", err)
		}
		_ = first.c.Close()
		third := newSession(srv, dialOpts(tr))
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := third.c.Connect(ctx); err != nil {
			t.Fatalf("after the first closed: %v", err)
		}
		_ = third.c.Close()
	})
}

// TestExecLineLimit: a line over -max-line either way closes the session with 1009 and
// ends the program.
func TestExecLineLimit(t *testing.T) {
	t.Run("from the client", func(t *testing.T) {
		srv := startExec(t, "-max-line", "10", "--", "cat")
		testutil.ForEachTransport(t, func(t *testing.T, tr string) {
			ss := dial(t, srv, dialOpts(tr))
			ss.send(t, "0123456789")
			ss.waitLines(t, 1, 10*time.Second)
			_ = ss.c.Emit(context.Background(), "line", "0123456789x")
			if code, err := ss.waitClosed(t, 10*time.Second); code != 1009 {
				t.Fatalf("closed with %d (%v), want 1009", code, err)
			}
		})
	})
	t.Run("from the program", func(t *testing.T) {
		srv := startExec(t, "-max-line", "10", "--", "sh", "-c", "echo 0123456789; echo 0123456789x; sleep 300")
		testutil.ForEachTransport(t, func(t *testing.T, tr string) {
			ss := dial(t, srv, dialOpts(tr))
			if code, err := ss.waitClosed(t, 10*time.Second); code != 1009 {
				t.Fatalf("closed with %d (%v), want 1009", code, err)
			}
			if got := ss.waitLines(t, 1, time.Second); len(got) != 1 || got[0] != "0123456789" {
				t.Fatalf("lines %q, want the one within the limit", got)
			}
		})
	})
}

// TestExecBinary: with -binary, "bytes" events carry raw bytes both ways.
func TestExecBinary(t *testing.T) {
	srv := startExec(t, "-binary", "--", "cat")
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		got := make(chan []byte, 16)
		c := client.New(srv.Mount, dialOpts(tr))
		c.On("bytes", func(ctx context.Context, _ json.RawMessage) {
			b, ok := client.Bytes(ctx) // a binary message, as the client said it reads them
			if !ok {
				t.Error("bytes arrived as JSON, want a binary message")
			}
			got <- b
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := []byte{0, 1, 2, 0xff, '\n', 0xfe}
		if _, err := c.EmitWithAck(ctx, "bytes", want); err != nil {
			t.Fatal(err)
		}
		var all []byte
		for len(all) < len(want) {
			select {
			case b := <-got:
				all = append(all, b...)
			case <-ctx.Done():
				t.Fatalf("got %v, want %v", all, want)
			}
		}
		if string(all) != string(want) {
			t.Fatalf("got %v, want %v", all, want)
		}
	})
}

// TestExecShutdownEndsPrograms: stopping the command (SIGINT, SIGTERM) ends every program.
func TestExecShutdownEndsPrograms(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	ready := make(chan serve.Info, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"exec", "-addr", "127.0.0.1:0", "--", "sh", "-c", "echo $$; exec sleep 300"}, &env{stdout: out, stderr: out, ready: func(l serve.Info) { ready <- l }})
	}()
	l := <-ready
	var pids []int
	for _, tr := range testutil.Transports {
		ss := dial(t, &execServer{URL: l.URL, Mount: l.URL + "/rt"}, dialOpts(tr))
		pid, _ := strconv.Atoi(ss.waitLines(t, 1, 10*time.Second)[0])
		pids = append(pids, pid)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not stop:\n%s", out)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("pid %d alive after the command stopped", pid)
		}
	}
}
