// Command node is one node of the cluster that package clustertest runs: a sockhop server
// mounted at /rt, sharing its rooms through Redis (-redis) or NATS (-nats), with a test page
// at / and an admin endpoint at /cluster that tells what this node knows of the cluster.
//
//	node -addr 127.0.0.1:8081 -advertise http://127.0.0.1:8081 -redis redis://127.0.0.1:6379/0
//
// Events (all with ack):
//
//	whoami               -> {sid, node, user}
//	join   {room}        -> {node}            joins the room
//	leave  {room}        -> {node}
//	say    {room,n,from} -> {node, seq, err}  emits "said" {room,n,from,node,seq} to the
//	                                          room; seq numbers the session's says from 1
//	                                          in the order the node handled them; err is
//	                                          the broadcast's error, if any (the members
//	                                          on this node got it anyway)
//
// The hello's auth {"user": "u1"} becomes Identity.UserID. Every room has presence events.
//
// With -durable P, rooms whose names begin with P are a Channel of the Durable class (its
// history in the broker: Redis Streams, or JetStream for -nats, whose server needs -js),
// bounded by -history-size messages, that clients may subscribe to ($sub) unless the
// room's name contains "refused".
//
// Admin (this node's view, for the tests):
//
//	GET  /cluster?room=R     -> {node, members, presence, count, local, nodes}
//	POST /disconnect?user=U  -> {closed}
//
// The tests build it once per run and start three of them as separate processes, so that
// one can be killed with SIGKILL.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/nats"
	"github.com/sockhop/sockhop/rooms/redis"
)

//go:embed static
var static embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("node", flag.ContinueOnError)
	addr := fl.String("addr", "127.0.0.1:8081", "listen address (host:port)")
	advertise := fl.String("advertise", "", "base URL the other nodes reach this one at (default http://<addr>)")
	redisURL := fl.String("redis", "", "Redis URL of the cluster's broker (redis://host:port/db)")
	natsURL := fl.String("nats", "", "NATS URL of the cluster's broker (nats://host:port)")
	durable := fl.String("durable", "", "rooms with this name prefix are durable, clients may subscribe (names with \"refused\" excepted)")
	historySize := fl.Int("history-size", 0, "messages kept per durable room (0: sockhop.DefaultHistorySize)")
	verbose := fl.Bool("v", false, "log at Info level to stderr (Debug with -vv)")
	debug := fl.Bool("vv", false, "log at Debug level to stderr")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if (*redisURL == "") == (*natsURL == "") {
		return errors.New("exactly one of -redis and -nats is needed")
	}
	if *advertise == "" {
		*advertise = "http://" + *addr
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose || *debug {
		level := slog.LevelInfo
		if *debug {
			level = slog.LevelDebug
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	var adapter rooms.Adapter
	var err error
	if *redisURL != "" {
		adapter, err = redis.New(redis.Options{URL: *redisURL, Logger: logger})
	} else {
		adapter, err = nats.New(nats.Options{URL: *natsURL, Logger: logger})
	}
	if err != nil {
		return err
	}
	srv, err := sockhop.New(sockhop.Options{
		Adapter:        adapter,
		Advertise:      *advertise,
		Logger:         logger,
		Authenticate:   authenticate,
		PresenceEvents: func(string) bool { return true },
		// Every test client comes from 127.0.0.1 (through nginx, or forwarded by a node)
		// and the tests send thousands of messages a second: the per-address and
		// per-session limits are not what they test.
		MaxSessionsPerIP:      -1,
		ConnectRate:           -1,
		MessageRate:           100_000,
		MessageBurst:          10_000,
		SockJSDisconnectDelay: 2 * time.Second,
	})
	if err != nil {
		return err
	}
	handlers(srv)
	if *durable != "" {
		srv.Channel(*durable, sockhop.Channel{
			Class:       sockhop.Durable,
			HistorySize: *historySize,
			Subscribe: func(_ context.Context, _ *sockhop.Session, room string) error {
				if strings.Contains(room, "refused") {
					return &sockhop.Error{Code: "forbidden", Message: "this room refuses subscriptions"}
				}
				return nil
			},
		})
	}

	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) { clusterView(w, r, srv) })
	mux.HandleFunc("POST /disconnect", func(w http.ResponseWriter, r *http.Request) {
		n, err := srv.DisconnectUser(r.Context(), r.URL.Query().Get("user"))
		reply(w, map[string]any{"closed": n}, err)
	})
	sub, _ := fs.Sub(static, "static")
	mux.Handle("/", http.FileServerFS(sub))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The harness waits for this line: the node id, then the address.
	fmt.Printf("node %s listening on %s advertising %s\n", srv.NodeID(), ln.Addr(), *advertise)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	return nil
}

// authenticate takes the hello's {"user": "..."} as the session's user id.
func authenticate(_ *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
	var a struct {
		User string `json:"user"`
	}
	if len(auth) > 0 {
		_ = json.Unmarshal(auth, &a)
	}
	return sockhop.Identity{UserID: a.User}, nil
}

type roomReq struct {
	Room string `json:"room"`
}

// said is the data of "say" and of the "said" broadcast.
type said struct {
	Room string `json:"room"`
	N    int    `json:"n"`
	From string `json:"from"`
	Node string `json:"node,omitempty"` // the node that broadcast it
	Seq  int    `json:"seq,omitempty"`  // the sender's says, numbered as handled
}

func handlers(srv *sockhop.Server) {
	sockhop.OnRequest(srv, "whoami", func(_ context.Context, s *sockhop.Session, _ json.RawMessage) (map[string]string, error) {
		return map[string]string{"sid": s.ID(), "node": srv.NodeID(), "user": s.Identity().UserID}, nil
	})
	sockhop.OnRequest(srv, "join", func(ctx context.Context, s *sockhop.Session, r roomReq) (map[string]string, error) {
		return map[string]string{"node": srv.NodeID()}, s.Join(ctx, r.Room)
	})
	sockhop.OnRequest(srv, "leave", func(ctx context.Context, s *sockhop.Session, r roomReq) (map[string]string, error) {
		return map[string]string{"node": srv.NodeID()}, s.Leave(ctx, r.Room)
	})
	sockhop.OnRequest(srv, "say", func(ctx context.Context, s *sockhop.Session, m said) (map[string]any, error) {
		// A session's handlers run one at a time, in order: no lock.
		seq, _ := s.Get("seq")
		n, _ := seq.(int)
		n++
		s.Set("seq", n)
		m.Node, m.Seq = srv.NodeID(), n
		out := map[string]any{"node": m.Node, "seq": n}
		// A broadcast that could not reach the broker has still reached this node's
		// members: the ack says so instead of failing, so that a test of a broker outage
		// can tell the two apart.
		if err := srv.To(m.Room).Emit(ctx, "said", m); err != nil {
			out["err"] = err.Error()
		}
		return out, nil
	})
}

// clusterView answers GET /cluster?room=R with what this node knows of the room.
func clusterView(w http.ResponseWriter, r *http.Request, srv *sockhop.Server) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	room := r.URL.Query().Get("room")
	members, err := srv.Members(ctx, room)
	if err != nil {
		reply(w, nil, err)
		return
	}
	presence, err := srv.Presence(ctx, room)
	if err != nil {
		reply(w, nil, err)
		return
	}
	count, err := srv.Count(ctx, room)
	if err != nil {
		reply(w, nil, err)
		return
	}
	reply(w, map[string]any{
		"node": srv.NodeID(), "members": members, "presence": presence,
		"count": count, "local": srv.LocalCount(room), "nodes": srv.Nodes(),
	}, nil)
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		v = map[string]string{"error": err.Error()}
	}
	_ = json.NewEncoder(w).Encode(v)
}
