package dial

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// TestHelloTaken: a dial offering a hello subprotocol learns from the answer whether the
// server took it; a server that knows only sockhop.v1 (an older one) answers that, and the
// client then sends its hello as a message.
func TestHelloTaken(t *testing.T) {
	hello := events.HelloProtocol(true, 0)
	for _, tc := range []struct {
		name   string
		server []string
		want   bool
	}{
		{"takes it", []string{hello, events.Subprotocol}, true},
		{"sockhop.v1 only", []string{events.Subprotocol}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := websocket.Upgrader{Subprotocols: tc.server}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c, err := up.Upgrade(w, r, nil); err == nil {
					_, _, _ = c.ReadMessage()
					c.Close()
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, srv.URL, transport.WebSocket, Options{Hello: hello})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(1000, "")
			if got := HelloTaken(c); got != tc.want {
				t.Errorf("HelloTaken = %v, want %v", got, tc.want)
			}
		})
	}
}
