package sockhop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
)

type chatMsg struct {
	Text string `json:"text"`
	N    int    `json:"n"`
}

func TestEventsBothWays(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var gotTransport sync.Map
		_, url := testServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			sockhop.On(srv, "chat", func(ctx context.Context, s *sockhop.Session, m chatMsg) error {
				gotTransport.Store("t", s.Transport())
				return s.Emit(ctx, "chat", chatMsg{Text: "re: " + m.Text, N: m.N + 1})
			})
			sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v any) (any, error) {
				return v, nil
			})
		})
		c := dialClient(t, url, tr, client.Options{})
		if c.Transport() != tr {
			t.Fatalf("client transport %q, want %q", c.Transport(), tr)
		}
		got := collect(c, "chat", 1)
		if err := c.Emit(context.Background(), "chat", chatMsg{Text: "hi", N: 1}); err != nil {
			t.Fatal(err)
		}
		var m chatMsg
		if err := json.Unmarshal(got.next(t), &m); err != nil || m.Text != "re: hi" || m.N != 2 {
			t.Fatalf("got %+v %v", m, err)
		}
		if v, _ := gotTransport.Load("t"); v != tr {
			t.Errorf("server saw transport %v, want %s", v, tr)
		}
		reply, err := c.EmitWithAck(context.Background(), "echo", map[string]any{"a": []int{1, 2}})
		if err != nil || string(reply) != `{"a":[1,2]}` {
			t.Fatalf("echo reply %s, %v", reply, err)
		}
	})
}

func TestAckErrors(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			sockhop.OnRequest(srv, "typed", func(ctx context.Context, s *sockhop.Session, v chatMsg) (string, error) {
				return v.Text, nil
			})
			sockhop.OnRequest(srv, "fail", func(ctx context.Context, s *sockhop.Session, v string) (any, error) {
				if v == "visible" {
					return nil, &sockhop.Error{Code: "nope", Message: "not allowed"}
				}
				return nil, errors.New("database password is hunter2")
			})
		})
		c := dialClient(t, url, tr, client.Options{})
		ctx := context.Background()
		cases := []struct {
			name, event string
			data        any
			code        string
		}{
			{"decode failure", "typed", []int{1}, sockhop.CodeBadRequest},
			{"unknown event", "nosuch", nil, sockhop.CodeUnknownEvent},
			{"visible error", "fail", "visible", "nope"},
			{"hidden error", "fail", "hidden", sockhop.CodeInternal},
		}
		for _, tc := range cases {
			_, err := c.EmitWithAck(ctx, tc.event, tc.data)
			var e *events.ErrorBody
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Errorf("%s: err %v, want code %s", tc.name, err, tc.code)
			}
			if e != nil && strings.Contains(e.Message, "hunter2") {
				t.Errorf("%s: internal error leaked to the client: %q", tc.name, e.Message)
			}
		}
		// The session survived every error.
		if reply, err := c.EmitWithAck(ctx, "typed", chatMsg{Text: "still here"}); err != nil || string(reply) != `"still here"` {
			t.Fatalf("after errors: %s %v", reply, err)
		}
	})
}

func TestServerEmitWithAck(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		sessions := make(chan *sockhop.Session, 1)
		_, url := testServer(t, sockhop.Options{AckTimeout: 300 * time.Millisecond}, func(srv *sockhop.Server) {
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
				sessions <- s
				return nil
			})
		})
		c := client.New(url, client.Options{Transports: []string{tr}, NoReconnect: true})
		release, slowDone := make(chan struct{}), make(chan struct{})
		c.OnRequest("ask", func(ctx context.Context, data json.RawMessage) (any, error) {
			var q string
			_ = json.Unmarshal(data, &q)
			switch q {
			case "fail":
				return nil, &events.ErrorBody{Code: "client_says_no", Message: "no"}
			case "slow":
				<-release // past the server's ack timeout
				defer close(slowDone)
			}
			return "answer to " + q, nil
		})
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s := <-sessions
		ctx := context.Background()
		reply, err := s.EmitWithAck(ctx, "ask", "life")
		if err != nil || string(reply) != `"answer to life"` {
			t.Fatalf("reply %s %v", reply, err)
		}
		_, err = s.EmitWithAck(ctx, "ask", "fail")
		var e *sockhop.Error
		if !errors.As(err, &e) || e.Code != "client_says_no" {
			t.Fatalf("error reply: %v", err)
		}
		if _, err = s.EmitWithAck(ctx, "ask", "slow"); !errors.Is(err, sockhop.ErrAckTimeout) {
			t.Fatalf("slow reply: %v, want ErrAckTimeout", err)
		}
		close(release)
		<-slowDone // the slow handler's late reply is ignored
		reply, err = s.EmitWithAck(ctx, "ask", "again")
		if err != nil || string(reply) != `"answer to again"` {
			t.Fatalf("after timeout: %s %v", reply, err)
		}
	})
}

// TestAckInsideHandler checks that a handler can EmitWithAck to its own client: the reader
// is not the goroutine that runs handlers, so the reply gets through.
func TestAckInsideHandler(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
			sockhop.OnRequest(srv, "relay", func(ctx context.Context, s *sockhop.Session, q string) (json.RawMessage, error) {
				return s.EmitWithAck(ctx, "ask", q)
			})
		})
		c := client.New(url, client.Options{Transports: []string{tr}, NoReconnect: true})
		c.OnRequest("ask", func(ctx context.Context, data json.RawMessage) (any, error) {
			return json.RawMessage(`{"you said":` + string(data) + `}`), nil
		})
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		reply, err := c.EmitWithAck(context.Background(), "relay", "x")
		if err != nil || string(reply) != `{"you said":"x"}` {
			t.Fatalf("reply %s %v", reply, err)
		}
	})
}

// TestOrdering10k sends 10,000 numbered events each way and checks that every one arrives
// once and in order.
func TestOrdering10k(t *testing.T) {
	const n = 10000
	forEachTransport(t, func(t *testing.T, tr string) {
		type result struct {
			bad  string
			seen int
		}
		done := make(chan result, 1)
		_, url := testServer(t, sockhop.Options{MaxQueueBytes: 8 << 20, MessageRate: -1}, func(srv *sockhop.Server) {
			next := 0
			sockhop.On(srv, "n", func(ctx context.Context, s *sockhop.Session, i int) error {
				if i != next {
					done <- result{bad: fmt.Sprintf("server got %d, want %d", i, next)}
					return nil
				}
				next++
				if next == n {
					done <- result{seen: next}
				}
				return nil
			})
			sockhop.On(srv, "send", func(ctx context.Context, s *sockhop.Session, count int) error {
				for i := range count {
					if err := s.Emit(ctx, "n", i); err != nil {
						return err
					}
				}
				return nil
			})
		})
		c := client.New(url, client.Options{Transports: []string{tr}, NoReconnect: true, MaxQueueBytes: 8 << 20})
		got := make(chan result, 1)
		next := 0
		c.On("n", func(ctx context.Context, data json.RawMessage) {
			var i int
			_ = json.Unmarshal(data, &i)
			if i != next {
				got <- result{bad: fmt.Sprintf("client got %d, want %d", i, next)}
			}
			next++
			if next == n {
				got <- result{seen: next}
			}
		})
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		for i := range n {
			if err := c.Emit(context.Background(), "n", i); err != nil {
				t.Fatal(err)
			}
		}
		for _, ch := range []chan result{done, got} {
			if ch == got {
				if err := c.Emit(context.Background(), "send", n); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case r := <-ch:
				if r.bad != "" {
					t.Fatal(r.bad)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("10,000 messages did not arrive within 60s")
			}
		}
		t.Logf("%s: 10,000 messages each way in order in %v", tr, time.Since(start).Round(time.Millisecond))
	})
}
