package clustertest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestHarness checks the harness without sockhop: nginx with the cluster's configuration in
// front of three plain backends spreads requests evenly (no affinity), passes WebSocket
// upgrades on and streams unbuffered responses below /rt/sockjs/; a child process dies by
// its PID.
func TestHarness(t *testing.T) {
	nginx := needNginx(t)
	var mu sync.Mutex
	hits := map[int]int{}
	up := websocket.Upgrader{}
	var backends []string
	for i := range 3 {
		mux := http.NewServeMux()
		mux.HandleFunc("/rt/ws", func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i)))
		})
		mux.HandleFunc("/rt/sockjs/stream", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			time.Sleep(2 * time.Second) // a buffering proxy would hold "first" until now
			_, _ = io.WriteString(w, "second\n")
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits[i]++
			mu.Unlock()
			fmt.Fprint(w, i)
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: mux}
		go func() { _ = hs.Serve(l) }()
		t.Cleanup(func() { _ = hs.Close() })
		backends = append(backends, l.Addr().String())
	}
	lb := startNginx(t, nginx, backends)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for range 30 {
		resp, err := hc.Get(lb.url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mu.Lock()
	if hits[0] != 10 || hits[1] != 10 || hits[2] != 10 {
		t.Errorf("30 requests through nginx reached the backends %v times, want 10 each (round robin)", hits)
	}
	mu.Unlock()

	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(lb.url, "http", "ws", 1)+"/rt/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket through nginx: %v\n%s", err, lb.logs())
	}
	_, msg, err := ws.ReadMessage()
	ws.Close()
	if err != nil || len(msg) != 1 {
		t.Errorf("WebSocket through nginx: %q, %v", msg, err)
	}

	start := time.Now()
	resp, err := hc.Post(lb.url+"/rt/sockjs/stream", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, line)
	resp.Body.Close()
	if err != nil || string(line) != "first\n" || time.Since(start) > time.Second {
		t.Errorf("streaming through nginx: %q after %v (%v), want the first line at once", line, time.Since(start), err)
	}

	p := startProcess(t, "sleep", "sleep", "60")
	p.kill()
	if p.alive() {
		t.Error("sleep survived SIGKILL")
	}
}
