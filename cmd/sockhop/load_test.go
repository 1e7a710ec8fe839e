package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/events"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

// children returns the pids of this process's children, and how many are zombies.
func children(t testing.TB) (pids []int, zombies int) {
	t.Helper()
	me := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == me {
			pids = append(pids, pid)
			if f[0] == "Z" {
				zombies++
			}
		}
	}
	return pids, zombies
}

// pipes counts this process's open pipe file descriptors.
func pipes(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

// TestExecThousandSessions: 1,000 short sessions, on every transport in turn, half of
// them ended by the program (true), half by the client (cat): no zombie, no leaked pipe,
// no process left.
func TestExecThousandSessions(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 150
	}
	exits := startExec(t, "-max-per-addr", "0", "--", "true")
	cats := startExec(t, "-max-per-addr", "0", "--", "cat")
	pipes0 := pipes(t)
	t0 := time.Now()
	const batch = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i += batch {
		for j := i; j < min(i+batch, n); j++ {
			wg.Go(func() { errs <- oneSession(exits, cats, j) })
		}
		wg.Wait()
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("session %d..%d: %v", i, i+batch-1, err)
			}
		default:
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(t0)
	// Programs end and are reaped just after their sessions close: wait for that.
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids, zombies := children(t)
		p := pipes(t)
		if len(kids) == 0 && zombies == 0 && p <= pipes0 {
			t.Logf("%d sessions in %v (%v each, %d at a time); afterwards %d children, %d pipes (%d before)",
				n, elapsed.Round(time.Millisecond), (elapsed / time.Duration(n)).Round(time.Microsecond), batch, len(kids), p, pipes0)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d sessions: children %v (%d zombies), %d pipes open (%d before)", n, kids, zombies, p, pipes0)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// oneSession runs session i: even ones on the true server until the program's exit
// closes it, odd ones on the cat server with one line there and back, closed by the client.
func oneSession(exits, cats *execServer, i int) error {
	tr := testutil.Transports[i%len(testutil.Transports)]
	srv := exits
	if i%2 == 1 {
		srv = cats
	}
	got := make(chan string, 1)
	c := client.New(srv.Mount, client.Options{Transports: []string{tr}, NoReconnect: true})
	c.On("line", func(_ context.Context, data json.RawMessage) {
		var l string
		_ = json.Unmarshal(data, &l)
		select {
		case got <- l:
		default:
		}
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("%s: connect: %w", tr, err)
	}
	if srv == exits {
		select {
		case <-c.Done():
			if code := closeCode(c.Err()); code != 1000 {
				return fmt.Errorf("%s: closed with %d (%v), want 1000", tr, code, c.Err())
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%s: the program's exit did not close the session", tr)
		}
	}
	want := "line " + strconv.Itoa(i)
	if err := c.Emit(ctx, "line", want); err != nil {
		return err
	}
	select {
	case l := <-got:
		if l != want {
			return fmt.Errorf("%s: got %q, want %q", tr, l, want)
		}
	case <-ctx.Done():
		return fmt.Errorf("%s: no echo", tr)
	}
	return nil
}

// TestExecSlowReader: a client that stops reading while its program floods it does not
// slow the other sessions down; its session is closed (slow consumer) and its program
// ended.
func TestExecSlowReader(t *testing.T) {
	srv := startExec(t, "--", "sh", "-c", `if [ "$QUERY_STRING" = flood ]; then echo $$; exec yes; else exec cat; fi`)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		stuck := make(chan struct{})
		first := make(chan string, 1)
		opts := dialOpts(tr)
		opts.Auth = map[string]string{"query": "flood"}
		slow := client.New(srv.Mount, opts)
		slow.On("line", func(_ context.Context, data json.RawMessage) {
			var l string
			_ = json.Unmarshal(data, &l)
			select {
			case first <- l:
				return
			default:
			}
			<-stuck // a reader that stopped reading: its client stops too
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := slow.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		defer close(stuck)
		var pid int
		select {
		case l := <-first:
			pid, _ = strconv.Atoi(l)
		case <-ctx.Done():
			t.Fatal("no pid from the flooding program")
		}

		fast := dial(t, srv, dialOpts(tr))
		var worst time.Duration
		for i := range 20 {
			t0 := time.Now()
			fast.send(t, "ping "+strconv.Itoa(i))
			fast.waitLines(t, i+1, 5*time.Second)
			worst = max(worst, time.Since(t0))
		}
		if worst > 3*time.Second { // generous: a blocked session would not answer at all
			t.Errorf("a round trip of the other session took %v while one flooded", worst)
		}
		waitGone(t, pid, 30*time.Second)
		t.Logf("%s: worst round trip of the other session %v; the flooding program ended", tr, worst.Round(time.Millisecond))
	})
}

func closeCode(err error) int {
	var ce *events.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
