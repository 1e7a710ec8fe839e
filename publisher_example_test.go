package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/rooms"
)

// A Publisher emits from a process that serves no clients, through the nodes' broker: here
// a rooms.MemoryBus stands for Redis or NATS, and one node serves a client of user "ann",
// who gets the Publisher's message to her and to the room she is in, once each.
func ExampleNewPublisher() {
	bus := rooms.NewMemoryBus() // in production: redis.New or nats.New, in each process
	srv, err := sockhop.New(sockhop.Options{
		Adapter: bus.Adapter(),
		Authenticate: func(r *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
			return sockhop.Identity{UserID: "ann"}, nil // check a real token here
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "news") })
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	got := make(chan string, 2)
	c := client.New(hs.URL, client.Options{})
	c.On("notice", func(ctx context.Context, data json.RawMessage) { got <- string(data) })
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// In another process:
	pub, err := sockhop.NewPublisher(ctx, sockhop.PublisherOptions{Adapter: bus.Adapter()})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close(ctx)
	if err := pub.ToUser("ann").Emit(ctx, "notice", "for ann, on every node"); err != nil {
		log.Fatal(err)
	}
	if err := pub.To("news").Emit(ctx, "notice", "for the room"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	fmt.Println(<-got)
	// Output:
	// "for ann, on every node"
	// "for the room"
}
