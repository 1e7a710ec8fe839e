package sockjs

import (
	"net/http"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// serveMem serves handler over an in-memory network (net.Pipe connections), so a test can
// run server and client in a synctest bubble, and returns a client for it (any host name
// reaches it). All of it stops with the test, sockjs-go's session timers included.
func serveMem(t *testing.T, handler http.Handler) *http.Client {
	ln := testutil.NewMemNet()
	hs := &http.Server{Handler: handler}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	hc := &http.Client{Transport: &http.Transport{DialContext: ln.DialContext}}
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
