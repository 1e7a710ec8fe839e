package sockhop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/rooms"
)

// logBuf collects a server's log lines, for tests that check what was logged.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// waitLogged waits until the log has an Error line about hook's panic, with its stack.
func (l *logBuf) waitLogged(t *testing.T, hook string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(line, "level=ERROR") && strings.Contains(line, hook+" panicked") &&
				strings.Contains(line, "stack=") && strings.Contains(line, "hooks_test.go") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Error line with a stack for a panic in %s; log:\n%s", hook, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHookPanics: a panic in any function the app gives the server closes only the
// session (or connection) it ran for, with 1011, is logged with its stack at Error
// level, and the process lives on: a bystander session is still served. (Without the
// recovery, the panic ends the test binary.)
func TestHookPanics(t *testing.T) {
	boom := func(r *http.Request) bool { return r.Header.Get("X-Boom") != "" }
	cases := []struct {
		hook string // as logged
		opts func(*sockhop.Options)
		// setup registers what panics for a client that sends the header X-Boom.
		setup func(srv *sockhop.Server)
		// trigger makes the raw client (which sent X-Boom) run the hook; closes says whether
		// it then sees 1011.
		trigger func(t *testing.T, c *rawConn)
		closes  bool
	}{
		{
			hook: "Authenticate",
			opts: func(o *sockhop.Options) {
				o.Authenticate = func(r *http.Request, _ json.RawMessage) (sockhop.Identity, error) {
					if boom(r) {
						panic("Authenticate boom")
					}
					return sockhop.Identity{UserID: "u"}, nil
				}
			},
			trigger: func(t *testing.T, c *rawConn) { c.send(`{"t":"hello","v":1}`) },
			closes:  true,
		},
		{
			hook: "OnConnect",
			setup: func(srv *sockhop.Server) {
				srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
					if s.Header().Get("X-Boom") != "" {
						panic("OnConnect boom")
					}
					return nil
				})
			},
			trigger: func(t *testing.T, c *rawConn) { c.send(`{"t":"hello","v":1}`) },
			closes:  true,
		},
		{
			hook: "handler",
			setup: func(srv *sockhop.Server) {
				sockhop.On(srv, "boom", func(ctx context.Context, s *sockhop.Session, v any) error { panic("handler boom") })
			},
			trigger: func(t *testing.T, c *rawConn) {
				c.handshake()
				c.send(`{"t":"ev","n":"boom","id":1}`)
			},
			closes: true,
		},
		{
			hook: "OnDisconnect",
			setup: func(srv *sockhop.Server) {
				srv.OnDisconnect(func(s *sockhop.Session, reason error) {
					if s.Header().Get("X-Boom") != "" {
						panic("OnDisconnect boom")
					}
				})
			},
			trigger: func(t *testing.T, c *rawConn) {
				c.handshake()
				c.send(`{"t":"close","code":1000}`)
			},
		},
		{
			hook: "Adapter.Subscribe",
			opts: func(o *sockhop.Options) { o.Adapter = &panicAdapter{Adapter: rooms.NewMemory(), room: "bad-sub"} },
			setup: func(srv *sockhop.Server) {
				sockhop.OnRequest(srv, "join", func(ctx context.Context, s *sockhop.Session, room string) (any, error) {
					return nil, s.Join(ctx, room)
				})
			},
			trigger: func(t *testing.T, c *rawConn) {
				c.handshake()
				c.send(`{"t":"ev","n":"join","d":"bad-sub","id":1}`)
			},
		},
		{
			hook: "Adapter.Unsubscribe",
			opts: func(o *sockhop.Options) { o.Adapter = &panicAdapter{Adapter: rooms.NewMemory(), room: "bad-unsub"} },
			setup: func(srv *sockhop.Server) {
				srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
					if s.Header().Get("X-Boom") != "" {
						return s.Join(ctx, "bad-unsub")
					}
					return nil
				})
			},
			trigger: func(t *testing.T, c *rawConn) {
				c.handshake()
				c.send(`{"t":"close","code":1000}`)
			},
		},
		{
			hook: "Adapter.Publish",
			opts: func(o *sockhop.Options) { o.Adapter = &panicAdapter{Adapter: rooms.NewMemory(), room: "bad-pub"} },
			setup: func(srv *sockhop.Server) {
				sockhop.OnRequest(srv, "pub", func(ctx context.Context, s *sockhop.Session, room string) (any, error) {
					return nil, srv.To(room).Emit(ctx, "x", 1)
				})
			},
			trigger: func(t *testing.T, c *rawConn) {
				c.handshake()
				c.send(`{"t":"ev","n":"pub","d":"bad-pub","id":1}`)
				// The panic is an error for the caller: the ack says "internal".
				for {
					m, err := c.nextTimeout(10 * time.Second)
					if err != nil {
						t.Fatal(err)
					}
					if m.T == "ack" {
						if m.Err == nil || m.Err.Code != sockhop.CodeInternal {
							t.Fatalf("Publish panic answered %+v, want an internal error", m)
						}
						return
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.hook, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr string) {
				var log logBuf
				opts := sockhop.Options{Logger: log.logger()}
				if tc.opts != nil {
					tc.opts(&opts)
				}
				srv, url := echoServer(t, opts, tc.setup)
				bystander := dialClient(t, url, tr, client.Options{})
				c := dialRaw(t, url, tr, http.Header{"X-Boom": {"1"}})
				tc.trigger(t, c)
				if tc.closes {
					if code := c.closeCode(); code != sockhop.CloseInternalError {
						t.Fatalf("the panicking session closed with %d, want 1011", code)
					}
				}
				log.waitLogged(t, tc.hook)
				mustEcho(t, bystander)
				// And a new session is still served.
				mustEcho(t, dialClient(t, url, tr, client.Options{}))
				if !tc.closes {
					return
				}
				deadline := time.Now().Add(10 * time.Second)
				for srv.SessionCount() != 2 { // the bystander and the new one
					if time.Now().After(deadline) {
						t.Fatalf("%d sessions, want 2", srv.SessionCount())
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		})
	}
}

// panicAdapter panics in Subscribe, Unsubscribe or Publish for one room.
type panicAdapter struct {
	rooms.Adapter
	room string
}

func (a *panicAdapter) Subscribe(ctx context.Context, room string) error {
	if room == a.room && strings.HasSuffix(room, "sub") && !strings.HasSuffix(room, "unsub") {
		panic("Subscribe boom")
	}
	return a.Adapter.Subscribe(ctx, room)
}

func (a *panicAdapter) Unsubscribe(ctx context.Context, room string) error {
	if room == a.room && strings.HasSuffix(room, "unsub") {
		panic("Unsubscribe boom")
	}
	return a.Adapter.Unsubscribe(ctx, room)
}

func (a *panicAdapter) Publish(ctx context.Context, p rooms.Publication) error {
	if len(p.Rooms) > 0 && p.Rooms[0] == a.room && strings.HasSuffix(a.room, "pub") {
		panic("Publish boom")
	}
	return a.Adapter.Publish(ctx, p)
}
