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
