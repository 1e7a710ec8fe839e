// Command echo is sockhop's echo example and the server of `make bench`: named events that
// answer what they get (echo, foo, bar), a server clock for round-trip measurements (rtt),
// and the benchmark protocol (join, echo, bcast). A page at / tries each; the rtt command
// (./rtt) measures round trips per transport.
//
//	go run ./examples/echo                  # http://127.0.0.1:8080/, sockhop at /rt
//	go run ./examples/echo -addr 127.0.0.1:8081 -nats nats://127.0.0.1:4222  # one of many nodes
//	go run ./examples/echo/rtt -url http://127.0.0.1:8080/rt -n 1000
//
// See README.md.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/serve"
)

//go:embed static
var static embed.FS

// The page's types of the events (static/echo.js reads them through JSDoc): a test fails
// when events.d.ts is stale.
//go:generate go run github.com/sockhop/sockhop/cmd/sockhop gen ts -o events.d.ts

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := serve.Exit(os.Stderr, "echo", run(ctx, os.Args[1:], os.Stdout, nil)); code != 0 { // -h exits 0
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, ready func(serve.Info)) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var sf serve.Flags
	sf.Register(fs)
	var ops serve.Ops
	ops.Register(fs)
	verbose := fs.Bool("v", false, "log sessions to stderr")
	var cl serve.ClusterFlags
	cl.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := ops.Check(); err != nil {
		return err
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	node, err := cl.Node(sf, logger, stdout)
	if err != nil {
		return err
	}
	h, srv, err := newApp(logger, sf.AllowedHosts(), node, sf.Options(ops.Apply))
	if err != nil {
		if node.Listener != nil {
			_ = node.Listener.Close()
		}
		return err
	}
	return serve.Run(ctx, serve.Config{Name: "echo", Flags: sf, Handler: ops.Handler(h), Sockhop: srv, Stdout: stdout, Ready: ready, Listener: node.Listener})
}

// Limits of bcast, so that one request cannot make the server queue gigabytes.
const (
	maxBcastCount = 100_000
	maxBcastSize  = 64 << 10
)

// bcastReq is the data of "bcast": emit M events "b" of S bytes each to Room.
type bcastReq struct {
	Room string `json:"room"`
	M    int    `json:"m"`
	S    int    `json:"s"`
}

// rttReply answers "rtt".
type rttReply struct {
	T int64           `json:"t"`           // the server's clock, unix ns
	C json.RawMessage `json:"c,omitempty"` // what the client sent, back
}

// newApp returns the echo site (page at /, sockhop at /rt) and its sockhop server.
func newApp(logger *slog.Logger, hosts []string, node serve.Node, ops func(*sockhop.Options)) (http.Handler, *sockhop.Server, error) {
	// The message rate is the example's own. rtt and make bench send requests one after
	// the other as fast as the answers come back, thousands a second on loopback: no flood,
	// but far past the default rate (100/s, burst 200), which is meant for apps whose
	// users click and type, and which rtt's 1,000 round trips per transport trip in a
	// fraction of a second. The burst covers rtt's -n 1000 and its warm-up in one session
	// whatever the machine's speed; no loopback round trip comes near the rate.
	opts := sockhop.Options{
		Logger: logger, AllowedHosts: hosts, MessageRate: 50_000, MessageBurst: 5_000,
		Adapter: node.Adapter, Advertise: node.Advertise, // zero: one process
	}
	ops(&opts) // -metrics, -admin
	srv, err := sockhop.New(opts)
	if err != nil {
		return nil, nil, err
	}
	echo := func(_ context.Context, _ *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
		if len(v) == 0 { // no data: a nil RawMessage is not valid JSON to sockhop
			return json.RawMessage("null"), nil
		}
		return v, nil
	}
	sockhop.OnRequest(srv, "echo", echo)
	sockhop.OnRequest(srv, "foo", prefixed("foo"))
	sockhop.OnRequest(srv, "bar", prefixed("bar"))
	sockhop.OnRequest(srv, "rtt", func(_ context.Context, _ *sockhop.Session, v json.RawMessage) (rttReply, error) {
		return rttReply{T: time.Now().UnixNano(), C: v}, nil
	})
	sockhop.OnRequest(srv, "join", func(ctx context.Context, s *sockhop.Session, room string) (any, error) {
		if room == "" {
			return nil, &sockhop.Error{Code: "bad_request", Message: "join needs a room name"}
		}
		return nil, s.Join(ctx, room)
	})
	sockhop.OnRequest(srv, "leave", func(ctx context.Context, s *sockhop.Session, room string) (any, error) {
		return nil, s.Leave(ctx, room)
	})
	sockhop.OnRequest(srv, "bcast", func(ctx context.Context, s *sockhop.Session, b bcastReq) (map[string]int, error) {
		if b.Room == "" || b.M < 0 || b.M > maxBcastCount || b.S < 0 || b.S > maxBcastSize {
			return nil, &sockhop.Error{Code: "bad_request", Message: fmt.Sprintf("bcast needs a room, 0 <= m <= %d and 0 <= s <= %d", maxBcastCount, maxBcastSize)}
		}
		payload := strings.Repeat("x", b.S)
		to := srv.To(b.Room)
		for range b.M {
			if err := to.Emit(ctx, "b", payload); err != nil {
				return nil, err
			}
		}
		return map[string]int{"sent": b.M}, nil
	})
	sockhop.Emits[string](srv, "b") // bcast's events, for the generated TypeScript (events.d.ts)
	sub, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.Handle("/", http.FileServerFS(sub))
	return mux, srv, nil
}

// prefixed answers with the payload behind the endpoint's name: "foo: hi" for the string
// "hi", "foo: {\"a\":1}" for other JSON.
func prefixed(name string) func(context.Context, *sockhop.Session, json.RawMessage) (string, error) {
	return func(_ context.Context, _ *sockhop.Session, v json.RawMessage) (string, error) {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		return name + ": " + s, nil
	}
}
