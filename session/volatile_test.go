package session

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/sockhop/sockhop/events"
)

// TestSendVolatile: a volatile message is dropped while no transport is served and while
// the queue holds more than VolatileBytes, never closes the session for its queue, and is
// queued otherwise; one still queued when the transport drops is not sent after the
// resume, while a default one is.
func TestSendVolatile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background(), "s1", Config{VolatileBytes: 1000}, HandlerFunc(nop))
		defer s.Abort(&events.CloseError{Code: events.CloseNormal})
		if s.SendVolatile(events.AppendEvent(nil, "v", []byte("0"), 0)) {
			t.Fatal("queued before any transport was served")
		}
		c1 := newFakeConn()
		c1.block = make(chan struct{}) // a stalled peer
		done := serve(s, c1)
		synctest.Wait()
		if !s.SendVolatile(events.AppendEvent(nil, "v", []byte("1"), 0)) {
			t.Fatal("dropped with an empty queue")
		}
		synctest.Wait() // the writer took it and waits on the peer
		kept := 0
		for range 100 {
			if s.SendVolatile(events.AppendEvent(nil, "v", []byte(`"`+strings.Repeat("x", 100)+`"`), 0)) {
				kept++
			}
		}
		if kept == 0 || kept > 1000/(100+32) {
			t.Fatalf("%d volatile messages of ~130 bytes queued under VolatileBytes 1000", kept)
		}
		if err := s.Emit("d", []byte("2")); err != nil { // a default one is queued past it
			t.Fatal(err)
		}
		c1.Close(events.CloseAbnormal, "cut")
		if err := <-done; !Dropped(err) {
			t.Fatalf("transport end: %v, want dropped", err)
		}
		if s.SendVolatile(events.AppendEvent(nil, "v", []byte("3"), 0)) {
			t.Fatal("queued while detached")
		}
		if !s.Resume(0, nil) {
			t.Fatal("resume refused")
		}
		c2 := newFakeConn()
		done = serve(s, c2)
		synctest.Wait()
		got := strings.Join(c2.frames(), "\n")
		if want := `{"t":"ev","n":"v","d":1}` + "\n" + `{"t":"ev","n":"d","d":2}`; got != want {
			t.Fatalf("after resume:\n%s\nwant:\n%s", got, want)
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		<-done
	})
}
