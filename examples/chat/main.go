// Command chat is sockhop's chat example: a chat server with a web page (nicknames,
// rooms, join/leave/rename notices, history for newcomers) and a terminal client.
//
//	go run ./examples/chat                                        # server at http://127.0.0.1:8080/
//	go run ./examples/chat -connect http://127.0.0.1:8080/rt -nick ann   # terminal client
//	go run ./examples/chat -addr 127.0.0.1:8081 -redis redis://127.0.0.1:6379/0  # one of many nodes
//	go run ./examples/chat -addr 127.0.0.1:8082 -nats nats://127.0.0.1:4222      # the same over NATS
//
// See README.md.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sockhop/sockhop/internal/serve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := serve.Exit(os.Stderr, "chat", run(ctx, os.Args[1:], os.Stdin, os.Stdout, nil)); code != 0 { // -h exits 0
		os.Exit(code)
	}
}

// run is the whole program: a server, or with -connect a terminal client. ready, when set,
// is called once a server listens (tests use it).
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, ready func(serve.Info)) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var sf serve.Flags
	sf.Register(fs)
	var cl serve.ClusterFlags
	cl.Register(fs) // -redis also keeps nicknames in that Redis (the history is in the broker)
	var ops serve.Ops
	ops.Register(fs)
	verbose := fs.Bool("v", false, "log sessions to stderr")
	publishKey := fs.String("publish-key", "", "turn on the HTTP publish endpoint (<mount>/publish, for ./announce -url) with this bearer key")
	var cf termFlags
	fs.StringVar(&cf.url, "connect", "", "run the terminal client against this sockhop URL (http://127.0.0.1:8080/rt)")
	fs.StringVar(&cf.nick, "nick", "", "terminal client: nickname")
	fs.StringVar(&cf.room, "room", defaultRoom, "terminal client: room to join")
	fs.StringVar(&cf.transport, "transport", "", "terminal client: force one transport (websocket, xhr-streaming, xhr-polling)")
	fs.BoolVar(&cf.insecure, "insecure", false, "terminal client: accept any TLS certificate (for -tls-self-signed servers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := ops.Check(); err != nil {
		return err
	}
	if cf.url != "" {
		return runTerminal(ctx, cf, stdin, stdout)
	}

	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	node, err := cl.Node(sf, logger, stdout)
	if err != nil {
		return err
	}
	h, srv, cleanup, err := newApp(appOptions{
		Adapter: node.Adapter, Advertise: node.Advertise, RedisURL: cl.Redis,
		Logger: logger, Hosts: sf.AllowedHosts(), Ops: sf.Options(ops.Apply), PublishKey: *publishKey,
	})
	if err != nil {
		if node.Listener != nil {
			_ = node.Listener.Close()
		}
		return err
	}
	defer cleanup()
	return serve.Run(ctx, serve.Config{
		Name: "chat", Flags: sf, Handler: ops.Handler(h), Sockhop: srv, Stdout: stdout, Ready: ready, Listener: node.Listener,
	})
}
