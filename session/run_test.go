package session

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// TestRunAttach: Run serves one transport after another; Attach replaces the transport
// served now, the welcome goes first and the messages the peer lacks follow, in order.
func TestRunAttach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var served, drops atomic.Int32
		s := New(context.Background(), "s1", Config{
			OnServe: func(c transport.Conn) { served.Add(1) },
			OnDrop:  func(c transport.Conn, err error) { drops.Add(1) },
		}, HandlerFunc(nop))
		c1 := newFakeConn()
		done := run(s, c1)
		for i := 1; i <= 3; i++ {
			_ = s.Emit("n", []byte{byte('0' + i)})
			synctest.Wait()
		}
		c1.in <- []byte(`{"t":"ev","n":"x"}`)
		synctest.Wait()
		// A new transport takes over while c1 still looks alive: c1 is replaced.
		c2 := newFakeConn()
		var received uint64
		taken, err := s.Attach(context.Background(), c2, nil, 1, func(r uint64) []byte {
			received = r
			return []byte(`{"t":"welcome","resumed":true}`)
		})
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
		if c1.closeCode != events.CloseReplaced {
			t.Fatalf("old transport closed with %d, want %d", c1.closeCode, events.CloseReplaced)
		}
		synctest.Wait()
		if received != 1 {
			t.Fatalf("welcome built with received=%d, want 1", received)
		}
		got := strings.Join(c2.frames(), "\n")
		want := `{"t":"welcome","resumed":true}` + "\n" + `{"t":"ev","n":"n","d":2}` + "\n" + `{"t":"ev","n":"n","d":3}`
		if got != want {
			t.Fatalf("after Attach:\n%s\nwant:\n%s", got, want)
		}
		if served.Load() != 2 || drops.Load() != 1 {
			t.Fatalf("OnServe ran %d times, OnDrop %d; want 2 and 1", served.Load(), drops.Load())
		}
		select {
		case <-taken:
			t.Fatal("Attach's channel closed while its transport is served")
		default:
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		if err := <-done; events.CloseCode(err) != events.CloseNormal {
			t.Fatalf("Run returned %v, want 1000", err)
		}
		<-taken
	})
}

// TestRunGrace: with no Attach within ResumeGrace, Run ends the session with 1006; an
// Attach after that is refused.
func TestRunGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background(), "s1", Config{ResumeGrace: time.Minute}, HandlerFunc(nop))
		c1 := newFakeConn()
		start := time.Now()
		done := run(s, c1)
		c1.Close(events.CloseAbnormal, "cut")
		err := <-done
		if events.CloseCode(err) != events.CloseAbnormal || time.Since(start) != time.Minute {
			t.Fatalf("Run returned %v after %v, want 1006 after 1m", err, time.Since(start))
		}
		if _, err := s.Attach(context.Background(), newFakeConn(), nil, 0, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Attach after the grace: %v, want ErrClosed", err)
		}
	})
}

// TestAttachImpossible: an Attach from before what the buffer still holds ends the
// session rather than skip messages.
func TestAttachImpossible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background(), "s1", Config{ResumeBytes: 40}, HandlerFunc(nop))
		c1 := newFakeConn()
		done := run(s, c1)
		for range 5 {
			_ = s.Emit("n", []byte(`"0123456789"`))
			synctest.Wait()
		}
		c1.Close(events.CloseAbnormal, "cut")
		synctest.Wait()
		c2 := newFakeConn()
		if _, err := s.Attach(context.Background(), c2, nil, 0, nil); !errors.Is(err, ErrResumeImpossible) {
			t.Fatalf("Attach: %v, want ErrResumeImpossible", err)
		}
		if err := <-done; events.CloseCode(err) != events.CloseAbnormal {
			t.Fatalf("Run returned %v, want 1006", err)
		}
	})
}

// TestWaitForHandler: Wait returns only after the handler that was running when the
// session ended has returned, and no handler starts after it.
func TestWaitForHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var running, handled atomic.Int32
		s := New(context.Background(), "s1", Config{}, HandlerFunc(func(ctx context.Context, m *events.Message) {
			running.Add(1)
			defer running.Add(-1)
			handled.Add(1)
			<-release
		}))
		c := newFakeConn()
		done := run(s, c)
		c.in <- []byte("{\"t\":\"ev\",\"n\":\"a\"}\n{\"t\":\"ev\",\"n\":\"b\"}")
		synctest.Wait()
		s.Abort(&events.CloseError{Code: events.CloseNormal})
		<-done
		waited := make(chan struct{})
		go func() { s.Wait(); close(waited) }()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("Wait returned while a handler runs")
		default:
		}
		close(release)
		<-waited
		if running.Load() != 0 || handled.Load() != 1 {
			t.Fatalf("after Wait: %d handlers running, %d handled; want 0 and 1 (b comes after the end)", running.Load(), handled.Load())
		}
		s.wakeDispatcher() // what a late reader would do: no dispatcher starts any more
		if s.dispatching.Load() {
			t.Fatal("a dispatcher started after Wait")
		}
	})
}
