package sockhop_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// TestOnDisconnectAfterLastHandler: a handler still running when the transport drops (and
// with it the session, resume being off) finishes before OnDisconnect starts, so that
// per-session state needs no lock between the two.
func TestOnDisconnectAfterLastHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		started := make(chan struct{})
		disconnected := make(chan struct{})
		var handlerDone atomic.Bool
		overlap := make(chan bool, 1)
		// SockJSDisconnectDelay short enough to end a dropped SockJS session soon, long enough
		// that a loaded machine sends the hello before an unpolled session expires (100 ms
		// was not: the hello got 404 in CI).
		_, url := testServer(t, sockhop.Options{ResumeGrace: -1, SockJSDisconnectDelay: time.Second}, func(srv *sockhop.Server) {
			sockhop.On(srv, "slow", func(ctx context.Context, s *sockhop.Session, _ any) error {
				close(started)
				<-ctx.Done() // the session has ended
				// Keep running past the end: the old server ran OnDisconnect now.
				select {
				case <-disconnected:
				case <-time.After(time.Second):
				}
				handlerDone.Store(true)
				return nil
			})
			srv.OnDisconnect(func(s *sockhop.Session, reason error) {
				overlap <- !handlerDone.Load()
				close(disconnected)
			})
		})
		c := dialRaw(t, url, tr, nil)
		c.handshake()
		c.send(`{"t":"ev","n":"slow"}`)
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("handler never started")
		}
		_ = c.Close(1000, "") // the transport drops; without resume, the session ends
		select {
		case ran := <-overlap:
			if ran {
				t.Fatal("OnDisconnect ran while the session's handler still ran")
			}
		case <-time.After(15 * time.Second):
			t.Fatal("OnDisconnect never ran")
		}
	})
}

// TestOversizeEmitEnds: a client emit over the server's MaxMessageSize ends the client's
// session with 1009 on every transport (on SockJS the xhr_send is refused with 413), not
// with a drop that the client would try to resume.
func TestOversizeEmitEnds(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{MaxMessageSize: 1024}, nil)
		c := dialClient(t, url, tr, client.Options{})
		if err := c.Emit(context.Background(), "big", strings.Repeat("x", 2048)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the client's session outlived its oversize emit")
		}
		if got := sockhop.CloseCode(c.Err()); got != sockhop.CloseTooBig {
			t.Fatalf("client ended with %v (code %d), want %d", c.Err(), got, sockhop.CloseTooBig)
		}
	})
}
