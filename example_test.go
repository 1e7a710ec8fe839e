package sockhop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// An echo server mounted at /rt of a ServeMux, and a Go client asking it for an echo over
// each transport.
func ExampleNew() {
	srv, err := sockhop.New(sockhop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, text string) (string, error) {
		return s.Transport() + ": " + text, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv) // WebSocket, SockJS fallbacks and /rt/sockhop.js
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	for _, tr := range []string{client.WebSocket, client.XHRStreaming, client.XHRPolling} {
		c, err := client.Dial(ctx, hs.URL+"/rt", client.Options{Transports: []string{tr}})
		if err != nil {
			log.Fatal(err)
		}
		reply, err := c.EmitWithAck(ctx, "echo", "hi")
		if err != nil {
			log.Fatal(err)
		}
		var text string
		_ = json.Unmarshal(reply, &text)
		fmt.Println(text)
		c.Close()
	}
	// Output:
	// websocket: hi
	// xhr-streaming: hi
	// xhr-polling: hi
}

// A typed handler: the event's data decodes into the handler's type; data that does not
// decode is answered with a "bad_request" error ack.
func ExampleOn() {
	srv, _ := sockhop.New(sockhop.Options{})
	type move struct {
		X, Y int
	}
	moved := make(chan move, 1)
	sockhop.On(srv, "move", func(ctx context.Context, s *sockhop.Session, m move) error {
		moved <- m
		return nil
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	c, _ := client.Dial(ctx, hs.URL, client.Options{})
	defer c.Close()
	_ = c.Emit(ctx, "move", move{X: 3, Y: 4})
	fmt.Println(<-moved)
	_, err := c.EmitWithAck(ctx, "move", "north")
	fmt.Println(err != nil)
	// Output:
	// {3 4}
	// true
}

// Rooms: a session joins a room in OnConnect, and a broadcast reaches every member but
// the sender.
func ExampleServer_To() {
	srv, _ := sockhop.New(sockhop.Options{})
	srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
		return s.Join(ctx, "lobby")
	})
	sockhop.OnRequest(srv, "say", func(ctx context.Context, s *sockhop.Session, text string) (bool, error) {
		return true, srv.To("lobby").Except(s.ID()).Emit(ctx, "said", text)
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	heard := make(chan string, 1)
	listener := client.New(hs.URL, client.Options{})
	listener.On("said", func(ctx context.Context, data json.RawMessage) { heard <- string(data) })
	_ = listener.Connect(ctx)
	defer listener.Close()
	speaker, _ := client.Dial(ctx, hs.URL, client.Options{})
	defer speaker.Close()
	_, _ = speaker.EmitWithAck(ctx, "say", "hello, lobby")
	n, _ := srv.Count(ctx, "lobby")
	fmt.Println(<-heard, n)
	// Output:
	// "hello, lobby" 2
}

// Shutdown closes every session with a going-away code and a jittered retry hint, then
// waits for them; the HTTP server is shut down after it.
func ExampleServer_Shutdown() {
	srv, _ := sockhop.New(sockhop.Options{})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	c, _ := client.Dial(context.Background(), hs.URL, client.Options{NoReconnect: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(srv.Shutdown(ctx))
	<-c.Done()
	fmt.Println(sockhop.CloseCode(c.Err()))
	fmt.Println(srv.To("lobby").Emit(ctx, "news", "too late"))
	// Output:
	// <nil>
	// 1001
	// sockhop: server closed
}

// Rooms that clients subscribe to themselves, under a rule, with durable history: a client
// that comes back as a new process with its saved positions catches up on what it missed.
func ExampleServer_Channel() {
	srv, _ := sockhop.New(sockhop.Options{})
	srv.Channel("news:", sockhop.Channel{
		Subscribe: func(ctx context.Context, s *sockhop.Session, room string) error {
			if room == "news:secret" {
				return &sockhop.Error{Code: "forbidden", Message: "not for you"}
			}
			return nil
		},
		Class: sockhop.Durable,
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	ctx := context.Background()

	headlines := make(chan string, 10)
	dial := func(positions map[string]client.Position) *client.Client {
		c := client.New(hs.URL, client.Options{Positions: positions})
		c.On("headline", func(ctx context.Context, data json.RawMessage) {
			var h string
			_ = json.Unmarshal(data, &h)
			headlines <- h
		})
		if err := c.Connect(ctx); err != nil {
			log.Fatal(err)
		}
		return c
	}
	c := dial(nil)
	_, err := c.Subscribe(ctx, "news:secret")
	fmt.Println(err)
	if _, err := c.Subscribe(ctx, "news:world"); err != nil {
		log.Fatal(err)
	}
	_ = srv.To("news:world").Emit(ctx, "headline", "one")
	fmt.Println(<-headlines)
	saved := c.Positions()
	c.Close()

	_ = srv.To("news:world").Emit(ctx, "headline", "two") // while no one listens
	c = dial(saved)
	defer c.Close()
	res, _ := c.Subscribe(ctx, "news:world")
	fmt.Println(<-headlines, res.Recovered)
	// Output:
	// sockhop/client: subscribe news:secret: sockhop: forbidden: not for you
	// one
	// two true
}
