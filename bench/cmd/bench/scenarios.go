package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"sync"
	"syscall"
	"time"
)

// target is one server + transport + dialect combination the load generator talks to.
type target struct {
	Name        string // as shown in tables
	Server      string // process kind: gorilla, gorilla-raw, sockjs, socketio, centrifuge, sockhop, sockhop-metrics, sockhop-redis, sockhop-nats
	Transport   string // ws, sockjs-ws, xhr-streaming, xhr-polling, sio-polling
	Dialect     string // sh (sockhop wire format), cf (Centrifuge JSON), sio (Socket.IO), raw (gorilla-raw's text commands)
	Path        string
	Subprotocol string
}

var (
	tGorilla       = target{"gorilla/websocket hub", "gorilla", "ws", "sh", "/ws", ""}
	tGorillaRaw    = target{"gorilla hub, raw text", "gorilla-raw", "ws", "raw", "/ws", ""}
	tSockjsWS      = target{"sockjs-go websocket", "sockjs", "sockjs-ws", "sh", "/sockjs", ""}
	tSockjsStream  = target{"sockjs-go xhr-streaming", "sockjs", "xhr-streaming", "sh", "/sockjs", ""}
	tSockjsPoll    = target{"sockjs-go xhr-polling", "sockjs", "xhr-polling", "sh", "/sockjs", ""}
	tSIO           = target{"socket.io websocket", "socketio", "ws", "sio", "/socket.io/?EIO=4&transport=websocket", ""}
	tSIOPoll       = target{"socket.io polling", "socketio", "sio-polling", "sio", "/socket.io/", ""}
	tCentrifuge    = target{"centrifuge", "centrifuge", "ws", "cf", "/connection/websocket", ""}
	tSockhop       = target{"sockhop websocket", "sockhop", "ws", "sh", "/rt/ws", "sockhop.v1"}
	tSockhopStream = target{"sockhop xhr-streaming", "sockhop", "xhr-streaming", "sh", "/rt/sockjs", ""}
	tSockhopPoll   = target{"sockhop xhr-polling", "sockhop", "xhr-polling", "sh", "/rt/sockjs", ""}
	tSockhopRedis  = target{"sockhop websocket, 2 nodes + Redis", "sockhop-redis", "ws", "sh", "/rt/ws", "sockhop.v1"}
	tSockhopNATS   = target{"sockhop websocket, 2 nodes + NATS", "sockhop-nats", "ws", "sh", "/rt/ws", "sockhop.v1"}
	// tSockhopMetrics is tSockhop with its Prometheus metrics on, for their overhead.
	tSockhopMetrics = target{"sockhop websocket + metrics", "sockhop-metrics", "ws", "sh", "/rt/ws", "sockhop.v1"}
)

// params are the counts of one mode (full or smoke).
type params struct {
	Runs int
	Idle []int // connection counts of the idle scenarios
	// IdleFrom, when not 0, is where the largest idle scenario measures its first RSS: the
	// slope between IdleFrom and the largest count is the memory of one more connection.
	IdleFrom int
	// IdleSessions are the two sizes of the idle-sessions scenario (sockhop's WebSocket,
	// xhr-streaming and xhr-polling sessions): memory slope between them.
	IdleSessions              [2]int
	BcastMembers, BcastM      int
	BcastSize                 int
	EchoClients, EchoRounds   int
	FallbackClients, FbRounds int
	Timeout                   time.Duration // per measurement
	// Settle is how long the idle scenarios wait before reading RSS; Pause the pause
	// between measurements.
	Settle, Pause time.Duration
}

var fullParams = params{Runs: 3, Idle: []int{10000, 18000}, IdleFrom: 10000, IdleSessions: [2]int{1000, 3000},
	BcastMembers: 1000, BcastM: 2000, BcastSize: 100,
	EchoClients: 100, EchoRounds: 200, FallbackClients: 20, FbRounds: 200, Timeout: 3 * time.Minute,
	Settle: 2 * time.Second, Pause: 500 * time.Millisecond}

// smokeParams: every scenario once at tiny counts (does every peer work?); the ratio guard
// has its own counts (smoke.go).
var smokeParams = params{Runs: 1, Idle: []int{200}, IdleSessions: [2]int{50, 100}, BcastMembers: 50, BcastM: 50, BcastSize: 100,
	EchoClients: 10, EchoRounds: 20, FallbackClients: 3, FbRounds: 10, Timeout: 30 * time.Second,
	Settle: 300 * time.Millisecond, Pause: 100 * time.Millisecond}

// scenario is one row group of the report.
type scenario struct {
	Key     string // idle-10000, idle-18000, idle-sessions, broadcast, echo, fallbacks
	Targets []target
	// run measures one target; nil for a scenario whose figures another scenario's
	// measurement yields (idle-10000 from idle-18000's first reading).
	run func(ctx context.Context, t target, env *env) (map[string]float64, error)
}

func scenarios(p params, withRedis, withNATS bool) []scenario {
	var ss []scenario
	wsPeers := []target{tGorillaRaw, tGorilla, tSockjsWS, tSIO, tCentrifuge, tSockhop}
	for i, n := range p.Idle {
		from := 0
		if i == len(p.Idle)-1 && p.IdleFrom > 0 && p.IdleFrom < n {
			from = p.IdleFrom
		}
		if n == p.IdleFrom && n < slices.Max(p.Idle) { // measured on the way to the largest
			ss = append(ss, scenario{fmt.Sprintf("idle-%d", n), wsPeers, nil})
			continue
		}
		ss = append(ss, scenario{fmt.Sprintf("idle-%d", n), wsPeers, func(ctx context.Context, t target, e *env) (map[string]float64, error) {
			return idle(ctx, t, e, n, from, p.Settle, true)
		}})
	}
	if a, b := p.IdleSessions[0], p.IdleSessions[1]; a > 0 && b > a {
		ss = append(ss, scenario{"idle-sessions", []target{tSockhop, tSockhopStream, tSockhopPoll},
			func(ctx context.Context, t target, e *env) (map[string]float64, error) {
				return idle(ctx, t, e, b, a, p.Settle, false)
			}})
	}
	bt := append(slices.Clone(wsPeers), tSockhopMetrics)
	if withRedis {
		bt = append(bt, tSockhopRedis)
	}
	if withNATS {
		bt = append(bt, tSockhopNATS)
	}
	ss = append(ss, scenario{"broadcast", bt, func(ctx context.Context, t target, e *env) (map[string]float64, error) {
		return broadcast(ctx, t, e, p.BcastMembers, p.BcastM, p.BcastSize)
	}})
	ss = append(ss, scenario{"echo", append(slices.Clone(wsPeers), tSockhopMetrics), func(ctx context.Context, t target, e *env) (map[string]float64, error) {
		return echo(ctx, t, e, p.EchoClients, p.EchoRounds)
	}})
	ss = append(ss, scenario{"fallbacks", []target{tSockhop, tSockhopStream, tSockhopPoll, tSockjsWS, tSockjsStream, tSockjsPoll, tSIO, tSIOPoll},
		func(ctx context.Context, t target, e *env) (map[string]float64, error) {
			return echo(ctx, t, e, p.FallbackClients, p.FbRounds)
		}})
	return ss
}

// env is the running server side of one measurement.
type env struct {
	addrs  []string // nodes; clients are spread over them
	procs  []*server
	broker *server // redis-server or nats-server of a two-node target
}

func (e *env) stop() {
	for _, s := range e.procs {
		s.stop()
	}
	if e.broker != nil {
		e.broker.stop()
	}
}

func (e *env) alive() error {
	var errs []error
	for _, s := range append(slices.Clone(e.procs), e.broker) {
		if s != nil {
			errs = append(errs, s.alive())
		}
	}
	return errors.Join(errs...)
}

// cpu is the summed CPU time of the server nodes (not Redis or NATS).
func (e *env) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, s := range e.procs {
		d, err := cpuTime(s.pid())
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

func startEnv(ctx context.Context, t target) (*env, error) {
	e := &env{}
	var flag string
	switch t.Server {
	case "sockhop-redis":
		r, err := startRedis(ctx)
		if err != nil {
			return nil, err
		}
		e.broker, flag = r, "-redis"
	case "sockhop-nats":
		n, err := startNATS(ctx)
		if err != nil {
			return nil, err
		}
		e.broker, flag = n, "-nats"
	}
	if e.broker != nil {
		for range 2 {
			s, err := startServer(ctx, "sockhop", flag, e.broker.addr)
			if err != nil {
				e.stop()
				return nil, err
			}
			e.procs = append(e.procs, s)
			e.addrs = append(e.addrs, s.addr)
		}
		return e, nil
	}
	s, err := startServer(ctx, t.Server)
	if err != nil {
		return nil, err
	}
	e.procs = []*server{s}
	e.addrs = []string{s.addr}
	return e, nil
}

// openMany opens n clients, conc at a time, client i on node i mod len(addrs); after
// opens it with each client before counting it open.
func openMany(ctx context.Context, t target, e *env, st *stats, n, conc int, after func(context.Context, *Client) error) ([]*Client, error) {
	clients := make([]*Client, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range min(conc, n) {
		wg.Go(func() {
			for i := range next {
				c, err := dial(ctx, t, e.addrs[i%len(e.addrs)], st)
				if err == nil && after != nil {
					if err = after(ctx, c); err != nil {
						c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				clients[i] = c
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		closeAll(clients)
		return nil, first
	}
	return clients, nil
}

func closeAll(cs []*Client) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// idle: open n connections; KiB of server RSS per connection, connections per second
// and server CPU per connection opened. With from > 0 it reads RSS after the first from
// connections too: slope_kib is the growth per connection between from and n (what one
// more connection costs, without the runtime's fixed start-up memory).
//
// With derive, the figures at from are returned too, as those of the idle-<from> scenario.
func idle(ctx context.Context, t target, e *env, n, from int, settle time.Duration, derive bool) (map[string]float64, error) {
	time.Sleep(settle / 4)
	pid := e.procs[0].pid()
	r0, err := rss(pid)
	if err != nil {
		return nil, err
	}
	st := &stats{}
	var cs []*Client
	defer func() { closeAll(cs) }()
	var el time.Duration
	var cpu, self time.Duration
	open := func(k int) error {
		c0, err := e.cpu()
		if err != nil {
			return err
		}
		s0 := selfCPU()
		t0 := time.Now()
		more, err := openMany(ctx, t, e, st, k, 50, nil)
		if err != nil {
			return err
		}
		el += time.Since(t0)
		self += selfCPU() - s0
		c1, err := e.cpu()
		if err != nil {
			closeAll(more)
			return err
		}
		cpu += c1 - c0
		cs = append(cs, more...)
		return nil
	}
	m := map[string]float64{}
	var rFrom int64
	if from > 0 {
		if err := open(from); err != nil {
			return nil, err
		}
		time.Sleep(settle)
		if rFrom, err = rss(pid); err != nil {
			return nil, err
		}
		if derive {
			pre := fmt.Sprintf("idle-%d/", from)
			m[pre+"kib_per_conn"] = float64(rFrom-r0) / float64(from) / 1024
			m[pre+"conn_per_s"] = float64(from) / el.Seconds()
			m[pre+"cpu_ms_per_conn"] = cpu.Seconds() * 1000 / float64(from)
			m[pre+"client_pct"] = self.Seconds() / el.Seconds() * 100
		}
	}
	if err := open(n - from); err != nil {
		return nil, err
	}
	time.Sleep(settle)
	r1, err := rss(pid)
	if err != nil {
		return nil, err
	}
	if err := e.alive(); err != nil {
		return nil, err
	}
	if cfg.hold > 0 {
		log.Printf("holding %d connections to %s (PID %d) for %s", n, t.Name, pid, cfg.hold)
		time.Sleep(cfg.hold)
	}
	m["kib_per_conn"] = float64(r1-r0) / float64(n) / 1024
	m["conn_per_s"] = float64(n) / el.Seconds()
	m["cpu_ms_per_conn"] = cpu.Seconds() * 1000 / float64(n)
	// How busy the load generator was while opening (100 = its whole core): near 100, the
	// connection rate measures this process as much as the server.
	m["client_pct"] = self.Seconds() / el.Seconds() * 100
	if from > 0 {
		m["slope_kib"] = float64(r1-rFrom) / float64(n-from) / 1024
	}
	return m, nil
}

// broadcast: members join one room; a separate client asks for m broadcasts of size s;
// server CPU per 1M delivered messages and delivered messages per second, measured from
// the request until the last member has every message.
func broadcast(ctx context.Context, t target, e *env, members, m, s int) (map[string]float64, error) {
	st := &stats{}
	join := func(ctx context.Context, c *Client) error {
		_, err := c.Call(ctx, "join", []byte(`"room"`))
		return err
	}
	cs, err := openMany(ctx, t, e, st, members, 50, join)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	pub, err := dial(ctx, t, e.addrs[0], st)
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	time.Sleep(300 * time.Millisecond) // let Redis or NATS subscriptions settle
	want := int64(members) * int64(m)
	var bin0, bout0 int64
	if e.broker != nil {
		if bin0, bout0, err = brokerBytes(ctx, e.broker); err != nil {
			return nil, fmt.Errorf("broker counters: %w", err)
		}
	}
	cpu0, err := e.cpu()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	callErr := make(chan error, 1)
	go func() {
		_, err := pub.Call(ctx, "bcast", fmt.Appendf(nil, `{"room":"room","m":%d,"s":%d}`, m, s))
		callErr <- err
	}()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for st.bcast.Load() < want {
		select {
		case <-tick.C:
		case err := <-callErr:
			if err != nil {
				return nil, fmt.Errorf("bcast: %w", err)
			}
			callErr = nil
		case <-ctx.Done():
			return nil, fmt.Errorf("broadcast: %d of %d delivered: %w", st.bcast.Load(), want, ctx.Err())
		}
	}
	el := time.Since(t0)
	cpu1, err := e.cpu()
	if err != nil {
		return nil, err
	}
	if callErr != nil {
		if err := <-callErr; err != nil {
			return nil, fmt.Errorf("bcast: %w", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	var bin1, bout1 int64
	if e.broker != nil {
		if bin1, bout1, err = brokerBytes(ctx, e.broker); err != nil {
			return nil, fmt.Errorf("broker counters: %w", err)
		}
	}
	if got := st.bcast.Load(); got != want {
		return nil, fmt.Errorf("broadcast: %d delivered, want %d", got, want)
	}
	if err := e.alive(); err != nil {
		return nil, err
	}
	res := map[string]float64{
		"cpu_s_per_M": (cpu1 - cpu0).Seconds() / (float64(want) / 1e6),
		"msg_per_s":   float64(want) / el.Seconds(),
	}
	if e.broker != nil {
		// What the broker read (publishes from the nodes) and wrote (deliveries to the
		// nodes' subscriptions) per broadcast, both nodes together.
		res["broker_in_B"] = float64(bin1-bin0) / float64(m)
		res["broker_out_B"] = float64(bout1-bout0) / float64(m)
	}
	return res, nil
}

// echo: n clients each make rounds sequential echo round trips; latency percentiles and
// server CPU per 1,000 round trips.
func echo(ctx context.Context, t target, e *env, n, rounds int) (map[string]float64, error) {
	st := &stats{}
	cs, err := openMany(ctx, t, e, st, n, 20, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(cs)
	if err := echoRounds(ctx, cs, 5, nil); err != nil { // warm up
		return nil, err
	}
	lat := make([]time.Duration, n*rounds)
	cpu0, err := e.cpu()
	if err != nil {
		return nil, err
	}
	t0, self0 := time.Now(), selfCPU()
	if err := echoRounds(ctx, cs, rounds, lat); err != nil {
		return nil, err
	}
	el, self := time.Since(t0), selfCPU()-self0
	cpu1, err := e.cpu()
	if err != nil {
		return nil, err
	}
	if err := e.alive(); err != nil {
		return nil, err
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	total := float64(n * rounds)
	return map[string]float64{
		"p50_ms":        pct(0.50),
		"p99_ms":        pct(0.99),
		"cpu_ms_per_1k": (cpu1 - cpu0).Seconds() * 1000 / (total / 1000),
		"rt_per_s":      total / el.Seconds(),
		"another":       float64(st.another.Load()),
		// The closed loop runs as fast as the slower side: a load generator near 100 %
		// of its core means the server waited for it part of the time.
		"server_busy_pct":  100 * (cpu1 - cpu0).Seconds() / el.Seconds(),
		"loadgen_busy_pct": 100 * self.Seconds() / el.Seconds(),
	}, nil
}

// echoData is what the echo round trips send: a 32-byte string.
var echoData = []byte(`"0123456789abcdef0123456789abcdef"`)

// echoRounds has every client of cs make k sequential echo round trips at once (k < 0:
// until ctx is done, which then is no error), noting round j of client i's latency in
// lat[i*k+j] when lat is not nil.
func echoRounds(ctx context.Context, cs []*Client, k int, lat []time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Go(func() {
			for j := 0; k < 0 || j < k; j++ {
				t0 := time.Now()
				got, err := c.Call(ctx, "echo", echoData)
				if err != nil {
					if k < 0 && ctx.Err() != nil {
						return
					}
					errs[i] = fmt.Errorf("client %d round %d: %w", i, j, err)
					return
				}
				if string(got) != string(echoData) {
					errs[i] = fmt.Errorf("client %d: echo %s, want %s", i, got, echoData)
					return
				}
				if lat != nil {
					lat[i*k+j] = time.Since(t0)
				}
				c.st.rounds.Add(1)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// selfCPU is this process's CPU time (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
