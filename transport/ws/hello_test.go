package ws

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/events"
)

// TestHelloUpgrade: the subprotocol chosen for each offer, the hello taken from it, and,
// with hold, the 101 held back until the frame after it, so that both leave in one write.
func TestHelloUpgrade(t *testing.T) {
	for _, hold := range []bool{true, false} {
		t.Run(fmt.Sprintf("hold=%v", hold), func(t *testing.T) { testHelloUpgrade(t, hold) })
	}
}

func testHelloUpgrade(t *testing.T, hold bool) {
	for _, tc := range []struct {
		offer  string // Sec-WebSocket-Protocol of the request
		answer string
		hello  bool
	}{
		{"sockhop.v1.hello.bin.ping9000, sockhop.v1", "sockhop.v1.hello.bin.ping9000", true},
		{"sockhop.v1, sockhop.v1.hello", "sockhop.v1.hello", true}, // a hello wins wherever it is
		{"sockhop.v1.hello.zzz, sockhop.v1", "sockhop.v1", false},
		{"sockhop.v1", "sockhop.v1", false},
		{"chat", "", false},
		{"", "", false},
	} {
		t.Run(tc.offer, func(t *testing.T) {
			up := NewUpgrader(Options{MaxMessageSize: 1 << 16, WriteTimeout: 5 * time.Second, CheckOrigin: func(*http.Request) bool { return true }})
			type result struct {
				hello events.Message
				ok    bool
			}
			res := make(chan result, 1)
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				c, err := up.Upgrade(w, r, hold)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close(1000, "")
				m, ok := c.Hello()
				if _, again := c.Hello(); again {
					t.Error("Hello returned the hello twice")
				}
				res <- result{m, ok}
				time.Sleep(100 * time.Millisecond) // a client reading now sees nothing if the 101 is held
				if err := c.WriteFrame([][]byte{[]byte(`{"t":"welcome"}`)}); err != nil {
					t.Error(err)
				}
			}))
			defer srv.Close()
			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
			if tc.offer != "" {
				req += "Sec-WebSocket-Protocol: " + tc.offer + "\r\n"
			}
			if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
				t.Fatal(err)
			}
			r := <-res
			if r.ok != tc.hello || r.ok && (r.hello.T != events.TypeHello || r.hello.V != events.Version) {
				t.Errorf("Hello() = %+v, %v; want a hello: %v", r.hello, r.ok, tc.hello)
			}
			if tc.hello && (r.hello.Bin != 1) != !strings.Contains(tc.answer, ".bin") {
				t.Errorf("hello bin %d for %q", r.hello.Bin, tc.answer)
			}
			if tc.hello && strings.Contains(tc.answer, ".ping9000") && r.hello.Ping != 9000 {
				t.Errorf("hello ping %d, want 9000", r.hello.Ping)
			}
			// The first bytes the client reads: with the hello taken and hold, the 101 and
			// the welcome together (one write); otherwise the 101 comes on its own, before.
			buf := make([]byte, 4096)
			n, err := nc.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			first := buf[:n]
			if together := bytes.Contains(first, []byte(`{"t":"welcome"}`)); together != (hold && tc.hello) {
				t.Errorf("first read %q: the frame with the 101 %v, want %v", first, together, hold && tc.hello)
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(first)), nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("answer %q: %v", first, err)
			}
			if got := resp.Header.Get("Sec-Websocket-Protocol"); got != tc.answer {
				t.Errorf("answered subprotocol %q, want %q", got, tc.answer)
			}
			<-done
		})
	}
}
