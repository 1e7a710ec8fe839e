package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// sessionGoroutines counts the goroutines whose stacks contain every one of marks.
func sessionGoroutines(marks ...string) (n int, stacks []string) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		all := true
		for _, m := range marks {
			all = all && strings.Contains(g, m)
		}
		if all {
			n++
			stacks = append(stacks, g)
		}
	}
	return n, stacks
}

// eventually waits up to 10 s for no goroutine to match marks, and fails with their
// stacks otherwise.
func eventuallyNone(t *testing.T, what string, marks ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, stacks := sessionGoroutines(marks...)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s still run when every session is idle; first:\n%s", n, what, stacks[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleSessionsHoldNoGoroutine: a session's writer runs only while it has something
// to write and its dispatcher only while events come, on every transport; its reader too
// runs only while bytes arrive, on WebSocket (Linux, plain TCP) and on the SockJS
// transports (there on the goroutine of the xhr_send that brought them). Sessions that idled
// answer at once when spoken to again, and go idle again.
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
				return v, nil
			})
		})
		const n = 20
		cs := make([]*client.Client, n)
		for i := range cs {
			cs[i] = dialClient(t, url, tr, client.Options{})
		}
		idle := func() {
			t.Helper()
			eventuallyNone(t, "session writers", "session.(*served).write")
			eventuallyNone(t, "session dispatchers", "session.(*Session).dispatchLoop")
			if tr == "websocket" && runtime.GOOS == "linux" {
				eventuallyNone(t, "server session readers", "session.(*served).readOn", "transport/ws.(*Conn)")
			}
			if tr != "websocket" {
				eventuallyNone(t, "server session readers", "session.(*served).readOn", "transport/sockjs.(*Conn)")
			}
		}
		for round := range 3 {
			idle()
			var wg sync.WaitGroup
			for i, c := range cs {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					want := fmt.Sprintf(`"%d-%d"`, round, i)
					got, err := c.EmitWithAck(ctx, "echo", json.RawMessage(want))
					if err != nil || string(got) != want {
						t.Errorf("client %d, round %d: echo %s, %v; want %s", i, round, got, err, want)
					}
				})
			}
			wg.Wait()
		}
		idle()
	})
}
