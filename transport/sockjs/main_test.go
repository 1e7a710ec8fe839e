package sockjs

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// serveMem serves handler over an in-memory network (net.Pipe connections), so a test can
// run server and client in a synctest bubble, and returns a client for it (any host name
// reaches it). All of it stops with the test, sockjs-go's session timers included.
func serveMem(t *testing.T, handler http.Handler) *http.Client {
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	hs := &http.Server{Handler: handler}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	hc := &http.Client{Transport: &http.Transport{DialContext: ln.dial}}
	t.Cleanup(func() {
		_ = hs.Close()
		<-served
		hc.CloseIdleConnections()
		// A closed session's timers run for 2×DisconnectDelay (5s by default) and the
		// bubble's clock stops when the test returns: let that time pass now, for free.
		time.Sleep(time.Minute)
	})
	return hc
}

// pipeListener is a net.Listener whose connections are made by dial, as net.Pipe pairs.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
