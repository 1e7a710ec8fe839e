package session

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop/events"
)

// goid is the calling goroutine's number, from its stack's first line.
func goid() string {
	b := make([]byte, 64)
	return strings.Fields(string(b[:runtime.Stack(b, false)]))[1]
}

// TestRepliesWrittenByDispatcher: a handler's reply is written by the dispatcher once the
// handler returns, when no writer is writing: with none running, and with one that
// lingers, which it takes for the moment and gives back, also when the lingering
// writer's timer fires meanwhile. Messages queued elsewhere still go to the writer.
func TestRepliesWrittenByDispatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		var mu sync.Mutex
		var handler, writer string // goroutines: the last handler's, the last frame's writer's
		c.onWrite = func() {
			mu.Lock()
			writer = goid()
			mu.Unlock()
		}
		var s *Session
		s = New(context.Background(), "s1", Config{}, HandlerFunc(func(ctx context.Context, m *events.Message) {
			mu.Lock()
			handler = goid()
			mu.Unlock()
			_ = s.Reply(m.ID, m.Data, nil)
		}))
		done := serve(s, c)
		synctest.Wait() // the welcome
		tr := s.cur.Load()
		state := func() int32 { return tr.wstate.Load() }
		request := func(id int) {
			t.Helper()
			n := len(c.frames())
			c.in <- []byte(`{"t":"ev","n":"e","d":1,"id":` + string(rune('0'+id)) + `}`)
			synctest.Wait()
			f := c.frames()
			if len(f) != n+1 || !strings.Contains(f[n], `"t":"ack","id":`+string(rune('0'+id))) {
				t.Fatalf("request %d: frames %q", id, f[n:])
			}
			mu.Lock()
			defer mu.Unlock()
			if writer != handler {
				t.Fatalf("request %d: reply written on goroutine %s, handled on %s", id, writer, handler)
			}
		}
		push := func() {
			t.Helper()
			n := len(c.frames())
			if err := s.Send([]byte(`{"t":"ev","n":"push"}`), true); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if f := c.frames(); len(f) != n+1 || !strings.Contains(f[n], "push") {
				t.Fatalf("push: frames %q", f[n:])
			}
			mu.Lock()
			defer mu.Unlock()
			if writer == handler {
				t.Fatalf("push written on the dispatcher's goroutine %s", writer)
			}
		}

		request(1) // no writer runs
		if st := state(); st != wIdle {
			t.Fatalf("after a reply, writer state %d, want idle", st)
		}
		push() // starts a writer, which lingers
		if st := state(); st != wLinger {
			t.Fatalf("after a push, writer state %d, want lingering", st)
		}
		request(2) // taken from the lingering writer, and given back
		if st := state(); st != wLinger {
			t.Fatalf("after a reply, writer state %d, want lingering again", st)
		}
		push() // the lingering writer writes it

		// The reply's write stalls while the lingering writer's timer fires, twice.
		c.block = make(chan struct{})
		c.in <- []byte(`{"t":"ev","n":"e","d":1,"id":3}`)
		synctest.Wait()
		time.Sleep(3 * writeLinger)
		synctest.Wait()
		if st := state(); st != wRunning {
			t.Fatalf("during the stalled reply, writer state %d, want running", st)
		}
		close(c.block)
		synctest.Wait()
		if f := c.frames(); !strings.Contains(f[len(f)-1], `"id":3`) {
			t.Fatalf("stalled reply: frames %q", f)
		}
		if st := state(); st != wLinger {
			t.Fatalf("after the stalled reply, writer state %d, want lingering", st)
		}
		time.Sleep(2 * writeLinger) // the lingering writer wrote nothing: it ends
		synctest.Wait()
		if st := state(); st != wIdle {
			t.Fatalf("%v after the last write, writer state %d, want idle", 2*writeLinger, st)
		}
		push()
		request(4)

		c.in <- []byte(`{"t":"close","code":1000}`)
		if err := <-done; events.CloseCode(err) != events.CloseNormal {
			t.Fatalf("ended with %v", err)
		}
	})
}
