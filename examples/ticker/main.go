// Command ticker is sockhop's stock-ticker example: simulated quotes (a random walk, several
// symbols, 10 updates a second each by default) pushed to one room per symbol. The page
// subscribes and unsubscribes symbols and shows a live table; a subscriber gets the last
// quote at once.
//
//	go run ./examples/ticker            # http://127.0.0.1:8080/
//	go run ./examples/ticker -addr 127.0.0.1:8081 -redis redis://127.0.0.1:6379/0  # one of many nodes
//
// See README.md.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/serve"
)

//go:embed static
var static embed.FS

// The page's types of the events (static/ticker.js reads them through JSDoc): a test fails
// when events.d.ts is stale.
//go:generate go run github.com/sockhop/sockhop/cmd/sockhop gen ts -o events.d.ts

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := serve.Exit(os.Stderr, "ticker", run(ctx, os.Args[1:], os.Stdout, nil)); code != 0 { // -h exits 0
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer, ready func(serve.Info)) error {
	fs := flag.NewFlagSet("ticker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var sf serve.Flags
	sf.Register(fs)
	interval := fs.Duration("interval", 100*time.Millisecond, "time between two quotes of a symbol")
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
	if *interval < time.Millisecond {
		return fmt.Errorf("-interval must be at least 1ms")
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	node, err := cl.Node(sf, logger, stdout)
	if err != nil {
		return err
	}
	h, srv, mk, err := newApp(logger, sf.AllowedHosts(), node, sf.Options(ops.Apply))
	if err != nil {
		if node.Listener != nil {
			_ = node.Listener.Close()
		}
		return err
	}
	gctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { mk.run(gctx, *interval) })
	defer wg.Wait()
	defer cancel() // the generator stops before run returns
	return serve.Run(ctx, serve.Config{Name: "ticker", Flags: sf, Handler: ops.Handler(h), Sockhop: srv, Stdout: stdout, Ready: ready, Listener: node.Listener})
}

// quote is one price update, the data of "quote" events.
type quote struct {
	Sym    string  `json:"sym"`
	Price  float64 `json:"price"`
	Open   float64 `json:"open"`   // the first price of the run
	Change float64 `json:"change"` // since open
	Pct    float64 `json:"pct"`    // since open, in percent
	Dir    int     `json:"dir"`    // +1, 0, -1: against the previous quote
	TS     int64   `json:"ts"`     // unix ms
}

// symbol is one simulated instrument.
type symbol struct {
	Sym  string `json:"sym"`
	Name string `json:"name"`
	open float64
}

var symbols = []symbol{
	{"ACME", "Acme Corp.", 142.10},
	{"GLBX", "Globex", 88.45},
	{"INIT", "Initech", 23.70},
	{"UMBR", "Umbrella", 310.00},
	{"HOOL", "Hooli", 1204.50},
	{"STRK", "Stark Industries", 512.25},
	{"WAYN", "Wayne Enterprises", 276.80},
	{"CYBD", "Cyberdyne", 64.30},
}

// market holds the last quote of every symbol and moves the prices.
//
// In a cluster every node runs a market of its own for its own subscribers, so the rooms
// are the node's ("quote:ACME@n3x..."): a quote never crosses to another node, and
// LocalCount is the whole answer to "does anyone listen?". A real app with one feed would
// publish it from one process into rooms shared by all nodes instead, and ask Count.
type market struct {
	srv    *sockhop.Server
	log    *slog.Logger
	suffix string // "" or "@<node id>": see room

	mu   sync.Mutex
	last map[string]quote // guarded by mu
}

// newApp returns the ticker site (page at /, sockhop at /rt), its sockhop server and the
// market, whose run moves the prices.
func newApp(logger *slog.Logger, hosts []string, node serve.Node, ops func(*sockhop.Options)) (http.Handler, *sockhop.Server, *market, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := sockhop.Options{Logger: logger, AllowedHosts: hosts, Adapter: node.Adapter, Advertise: node.Advertise}
	ops(&opts) // -metrics, -admin
	srv, err := sockhop.New(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	mk := &market{srv: srv, log: logger, last: make(map[string]quote)}
	if node.Adapter != nil {
		mk.suffix = "@" + srv.NodeID()
	}
	now := time.Now().UnixMilli()
	for _, s := range symbols {
		mk.last[s.Sym] = quote{Sym: s.Sym, Price: s.open, Open: s.open, TS: now}
	}
	sockhop.OnRequest(srv, "symbols", func(context.Context, *sockhop.Session, struct{}) ([]symbol, error) {
		return symbols, nil
	})
	sockhop.OnRequest(srv, "subscribe", func(ctx context.Context, s *sockhop.Session, sym string) (quote, error) {
		q, ok := mk.quote(sym)
		if !ok {
			return quote{}, &sockhop.Error{Code: "unknown_symbol", Message: "no symbol " + sym}
		}
		if err := s.Join(ctx, mk.room(sym)); err != nil {
			return quote{}, err
		}
		// The late subscriber gets the last quote at once, before the next tick.
		return q, s.Emit(ctx, "quote", q)
	})
	sockhop.OnRequest(srv, "unsubscribe", func(ctx context.Context, s *sockhop.Session, sym string) (any, error) {
		return nil, s.Leave(ctx, mk.room(sym))
	})
	sockhop.Emits[quote](srv, "quote") // for the generated TypeScript (events.d.ts)
	sub, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("/rt/", srv)
	mux.Handle("/", http.FileServerFS(sub))
	return mux, srv, mk, nil
}

// room is the room of sym's quotes.
func (m *market) room(sym string) string { return "quote:" + sym + m.suffix }

func (m *market) quote(sym string) (quote, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.last[sym]
	return q, ok
}

// run moves every price once per interval until ctx ends. Symbols tick at staggered
// moments, so the page sees a steady stream rather than bursts.
func (m *market) run(ctx context.Context, interval time.Duration) {
	step := interval / time.Duration(len(symbols))
	t := time.NewTicker(max(step, time.Millisecond))
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(symbols) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q := m.move(symbols[i].Sym)
		// The hot path asks this node only: a lock and a map lookup, no broker.
		if m.srv.LocalCount(m.room(q.Sym)) == 0 {
			continue // nobody listens here
		}
		if err := m.srv.To(m.room(q.Sym)).Emit(ctx, "quote", q); err != nil {
			m.log.Warn("ticker: emit", "sym", q.Sym, "err", err)
		}
	}
}

// move takes one step of a random walk with a slight pull back to the open price.
func (m *market) move(sym string) quote {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.last[sym]
	drift := (q.Open - q.Price) / q.Open * 0.002
	price := q.Price * (1 + drift + rand.NormFloat64()*0.0015)
	price = math.Round(price*100) / 100
	dir := 0
	switch {
	case price > q.Price:
		dir = 1
	case price < q.Price:
		dir = -1
	}
	q.Price, q.Dir, q.TS = price, dir, time.Now().UnixMilli()
	q.Change = math.Round((price-q.Open)*100) / 100
	q.Pct = math.Round((price-q.Open)/q.Open*10000) / 100
	m.last[sym] = q
	return q
}
