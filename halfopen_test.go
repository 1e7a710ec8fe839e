package sockhop_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// TestHalfOpen opens thousands of connections that stall: TCP connections that never
// send a request (slowloris, bounded by http.Server's ReadHeaderTimeout as the examples
// set it) and WebSocket upgrades that never send a hello (bounded by HandshakeTimeout).
// A well-behaved client keeps working meanwhile, the server closes every stalled
// connection, and its goroutines go back to where they were.
func TestHalfOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real time): make test and make gofull run it; make check (-short) does not")
	}
	n := 10000
	if raceEnabled {
		n = 1000
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*n+1000) {
		want := syscall.Rlimit{Cur: uint64(2*n + 1000), Max: max(lim.Max, uint64(2*n+1000))}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) != nil {
			n = int(lim.Cur-1000) / 2
			t.Logf("open file limit %d: testing %d connections", lim.Cur, n)
		}
	}
	srv, err := sockhop.New(sockhop.Options{HandshakeTimeout: 2 * time.Second, MaxSessionsPerIP: -1})
	if err != nil {
		t.Fatal(err)
	}
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v any) (any, error) { return v, nil })
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ReadHeaderTimeout = 2 * time.Second
	hs.Start()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	}()
	good := dialClient(t, hs.URL, client.WebSocket, client.Options{})
	baseline := runtime.NumGoroutine()

	addr := hs.Listener.Addr().String()
	conns := make([]net.Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var c net.Conn
			var err error
			if i%2 == 0 { // TCP only: no request line, ever
				c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			} else { // upgraded, then silent
				d := websocket.Dialer{Subprotocols: []string{"sockhop.v1"}, HandshakeTimeout: 5 * time.Second}
				var wc *websocket.Conn
				var resp *http.Response
				wc, resp, err = d.Dial("ws"+hs.URL[4:]+"/ws", nil)
				if resp != nil {
					resp.Body.Close()
				}
				if wc != nil {
					c = wc.NetConn()
				}
			}
			if err == nil && c != nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	mu.Lock()
	opened := len(conns)
	mu.Unlock()
	if opened < n*9/10 {
		t.Fatalf("only %d of %d stalled connections opened", opened, n)
	}
	mustEcho(t, good) // served while the stalled connections hold

	// Every stalled connection is closed by the server.
	deadline := time.Now().Add(30 * time.Second)
	open := 0
	buf := make([]byte, 512)
	for _, c := range conns {
		_ = c.SetReadDeadline(deadline)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					open++
				}
				break
			}
		}
		c.Close()
	}
	if open > 0 {
		t.Fatalf("%d of %d stalled connections still open after 30 s", open, opened)
	}
	mustEcho(t, good)
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline+50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polls the goroutine count, not a clock
	}
	if g := runtime.NumGoroutine(); g > baseline+50 {
		t.Fatalf("%d goroutines after the stalled connections closed, %d before", g, baseline)
	}
	t.Logf("%d stalled connections (half TCP-only, half upgraded without hello) held and closed; bystander served", opened)
}
