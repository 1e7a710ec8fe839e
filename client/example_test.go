package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http/httptest"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// A Go service talking to a sockhop server: handlers registered before connecting see
// every event, including those the server sends right after the welcome.
func ExampleNew() {
	srv, _ := sockhop.New(sockhop.Options{})
	srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
		return s.Emit(ctx, "motd", "welcome, "+s.Transport())
	})
	sockhop.OnRequest(srv, "add", func(ctx context.Context, s *sockhop.Session, xs []int) (int, error) {
		sum := 0
		for _, x := range xs {
			sum += x
		}
		return sum, nil
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	motd := make(chan string, 1)
	c := client.New(hs.URL, client.Options{Transports: []string{client.XHRPolling}})
	c.On("motd", func(ctx context.Context, data json.RawMessage) {
		var s string
		_ = json.Unmarshal(data, &s)
		motd <- s
	})
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(<-motd)
	sum, err := c.EmitWithAck(ctx, "add", []int{1, 2, 3})
	fmt.Println(string(sum), err)
	// Output:
	// welcome, xhr-polling
	// 6 <nil>
}

// Subscribing to a room from the client: the server's Channel rule allows it, and the
// room's broadcasts arrive until Unsubscribe. (After a new session the client would
// subscribe again by itself and report it to the OnSubscribe functions.)
func ExampleClient_Subscribe() {
	srv, _ := sockhop.New(sockhop.Options{})
	srv.Channel("room:", sockhop.Channel{
		Subscribe: func(ctx context.Context, s *sockhop.Session, room string) error { return nil },
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	c := client.New(hs.URL, client.Options{})
	got := make(chan string, 1)
	c.On("msg", func(ctx context.Context, data json.RawMessage) {
		var s string
		_ = json.Unmarshal(data, &s)
		got <- s
	})
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(ctx, "room:1"); err != nil {
		log.Fatal(err)
	}
	_ = srv.To("room:1").Emit(ctx, "msg", "hello")
	fmt.Println(<-got)
	_, err := c.Subscribe(ctx, "other")
	fmt.Println(err)
	if err := c.Unsubscribe(ctx, "room:1"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.Rooms())
	// Output:
	// hello
	// sockhop/client: subscribe other: sockhop: forbidden: no subscriptions to other
	// []
}
