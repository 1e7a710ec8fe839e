package sockhop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// gate is an HTTP fault injector in front of a sockhop server that acts per transport, as
// the proxies of issue 17 do: it refuses a transport (404, a proxy without it), hangs it
// (a WebSocket upgraded and then silent, a poll or stream never answered), buffers it (a
// stream's bytes held until the response ends: nginx with proxy_buffering that ignores
// X-Accel-Buffering), or stalls it mid-session (what the server writes on the
// connections of that transport, open ones included, stops arriving). A TCP proxy such as
// internal/faultproxy cannot pick a transport; the tests put one in front for cuts.
type gate struct {
	next http.Handler

	mu    sync.Mutex
	mode  map[string]gateMode
	stall map[string]chan struct{} // closed when the transport's stall ends
	done  chan struct{}            // closed by close: hung requests return
}

type gateMode int

const (
	gateOpen gateMode = iota
	gateRefuse
	gateHang
	gateBuffer
	gateStall
)

func newGate() (*gate, func(http.Handler) http.Handler) {
	g := &gate{mode: map[string]gateMode{}, stall: map[string]chan struct{}{}, done: make(chan struct{})}
	return g, func(h http.Handler) http.Handler { g.next = h; return g }
}

// set puts transport tr in mode m, for new requests; gateStall and leaving it act on the
// open connections too.
func (g *gate) set(tr string, m gateMode) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode[tr] == gateStall && m != gateStall {
		close(g.stall[tr])
		delete(g.stall, tr)
	}
	if m == gateStall && g.mode[tr] != gateStall {
		g.stall[tr] = make(chan struct{})
	}
	g.mode[tr] = m
}

// close releases everything held.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.done:
	default:
		close(g.done)
	}
}

// stalled returns a channel closed when tr is not stalled (nil when it is not now).
func (g *gate) stalled(tr string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stall[tr]
}

func requestTransport(r *http.Request) string {
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/ws"):
		return client.WebSocket
	case strings.HasSuffix(p, "/xhr_streaming"):
		return client.XHRStreaming
	case strings.HasSuffix(p, "/xhr"):
		return client.XHRPolling
	}
	return "" // xhr_send, info
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr := requestTransport(r)
	g.mu.Lock()
	m := g.mode[tr]
	g.mu.Unlock()
	switch {
	case tr == "":
	case m == gateRefuse:
		http.NotFound(w, r)
		return
	case m == gateHang && tr == client.WebSocket:
		up := websocket.Upgrader{Subprotocols: []string{"sockhop.v1"}}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() { // read until the client gives up; answer nothing
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		select {
		case <-g.done:
		case <-r.Context().Done():
		}
		c.Close()
		return
	case m == gateHang:
		select {
		case <-g.done:
		case <-r.Context().Done():
		}
		return
	case m == gateBuffer:
		bw := &bufferWriter{ResponseWriter: w}
		g.next.ServeHTTP(bw, r)
		_, _ = w.Write(bw.buf.Bytes())
		return
	}
	sw := &stallWriter{ResponseWriter: w, g: g, tr: tr, ctx: r.Context()}
	g.next.ServeHTTP(sw, r)
	sw.finish()
}

// bufferWriter holds a response's body until the handler returns.
type bufferWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *bufferWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *bufferWriter) Flush()                      {}

// stallWriter forwards a response, except while its transport is stalled: what the
// server writes then is held, as by a proxy that started buffering, and goes out after
// the stall, if the request is still there. A hijacked connection (WebSocket) is a
// stallConn.
type stallWriter struct {
	http.ResponseWriter
	g        *gate
	tr       string
	ctx      context.Context
	pending  bytes.Buffer
	hijacked bool
}

func (w *stallWriter) Write(p []byte) (int, error) {
	if w.g.stalled(w.tr) != nil {
		return w.pending.Write(p)
	}
	if w.pending.Len() > 0 {
		if _, err := w.ResponseWriter.Write(w.pending.Bytes()); err != nil {
			return 0, err
		}
		w.pending.Reset()
	}
	return w.ResponseWriter.Write(p)
}

func (w *stallWriter) Flush() {
	if w.g.stalled(w.tr) == nil {
		_, _ = w.Write(nil)
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// finish holds the end of a stalled response (a poll's answer) until the stall ends or
// the client gives up.
func (w *stallWriter) finish() {
	if w.hijacked {
		return
	}
	if ch := w.g.stalled(w.tr); ch != nil {
		select {
		case <-ch:
		case <-w.ctx.Done():
			return
		case <-w.g.done:
			return
		}
	}
	w.Flush()
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *stallWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	sc := &stallConn{Conn: c, g: w.g, tr: w.tr}
	return sc, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(sc)), nil
}

// stallConn is a hijacked connection whose writes are held while its transport is
// stalled, and go out with the first write after it.
type stallConn struct {
	net.Conn
	g       *gate
	tr      string
	mu      sync.Mutex
	pending bytes.Buffer
}

func (c *stallConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.g.stalled(c.tr) != nil {
		return c.pending.Write(p)
	}
	if c.pending.Len() > 0 {
		if _, err := c.Conn.Write(c.pending.Bytes()); err != nil {
			return 0, err
		}
		c.pending.Reset()
	}
	return c.Conn.Write(p)
}

// traffic checks a client's share of a stream of numbered "n" events: each must arrive
// exactly once and in order.
type traffic struct {
	m          int
	next       atomic.Int64 // written by the handler only (handlers run one at a time)
	lost, dups atomic.Int64
	all        chan struct{}
}

// newTraffic registers the "n" handler on c, before it connects.
func newTraffic(c *client.Client, m int) *traffic {
	tf := &traffic{m: m, all: make(chan struct{})}
	c.On("n", func(ctx context.Context, data json.RawMessage) {
		var k int
		if b, ok := client.Bytes(ctx); ok {
			k, _ = strconv.Atoi(string(b))
		} else {
			_ = json.Unmarshal(data, &k)
		}
		next := int(tf.next.Load())
		switch {
		case k < next:
			tf.dups.Add(1)
			return
		case k > next:
			tf.lost.Add(int64(k - next))
		}
		tf.next.Store(int64(k + 1))
		if k+1 == tf.m {
			close(tf.all)
		}
	})
	return tf
}

// run asks for the stream (one event every every, its numbers as bytes when bin), makes
// emits acked "inc" requests checking each reply, and waits for the whole stream.
func (tf *traffic) run(ctx context.Context, c *client.Client, emits int, every time.Duration, bin bool) error {
	if _, err := c.EmitWithAck(ctx, "stream", map[string]any{"m": tf.m, "every": every, "bin": bin}); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	for k := range emits {
		reply, err := c.EmitWithAck(ctx, "inc", k)
		if err != nil || string(reply) != fmt.Sprint(k+1) {
			return fmt.Errorf("inc %d: %s %v", k, reply, err)
		}
	}
	select {
	case <-tf.all:
	case <-ctx.Done():
		return fmt.Errorf("%d of %d messages: %w", tf.next.Load(), tf.m, ctx.Err())
	}
	if l, d := tf.lost.Load(), tf.dups.Load(); l != 0 || d != 0 {
		return fmt.Errorf("%d messages lost, %d duplicated", l, d)
	}
	return nil
}

// waitUntil polls cond (the state of the client or server, not a clock) for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// switchCase is a transport ladder and the transport of it a gate breaks.
type switchCase struct {
	ladder []string
}

func (sc switchCase) name() string { return sc.ladder[0] + "-to-" + sc.ladder[1] }

// Every transport broken, with the next one to take over.
var switchCases = []switchCase{
	{[]string{client.WebSocket, client.XHRStreaming}},
	{[]string{client.XHRStreaming, client.XHRPolling}},
	{[]string{client.XHRPolling, client.WebSocket}},
}

// attemptLog collects a client's transport attempts.
type attemptLog struct {
	mu sync.Mutex
	a  []client.Attempt
}

func (l *attemptLog) add(a client.Attempt) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.a = append(l.a, a)
}

func (l *attemptLog) get() []client.Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.a)
}

// TestLadderLateTransport: a transport that opens and then never delivers (a WebSocket
// upgraded and then silent, a stream a proxy buffers, a poll never answered) has the
// next transport start beside it after the open timeout scaled from the measured round
// trip, not after OpenTimeout; the next one wins, and the late one is let go.
func TestLadderLateTransport(t *testing.T) {
	t.Parallel()
	const openTimeout = 3 * time.Second
	for _, sc := range switchCases {
		t.Run(sc.name(), func(t *testing.T) {
			t.Parallel()
			g, wrap := newGate()
			mode := gateHang
			if sc.ladder[0] == client.XHRStreaming {
				mode = gateBuffer // nginx with proxy_buffering on, ignoring X-Accel-Buffering
			}
			g.set(sc.ladder[0], mode)
			ss, hs := newStreamServer(t, sockhop.Options{}, wrap)
			defer g.close()
			var log attemptLog
			c := client.New(hs.URL, client.Options{Transports: sc.ladder, OpenTimeout: openTimeout, OnAttempt: log.add, UpgradeDelay: -1})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport() != sc.ladder[1] {
				t.Fatalf("connected on %s, want %s", c.Transport(), sc.ladder[1])
			}
			waitUntil(t, "report of both attempts", func() bool { return len(log.get()) == 2 })
			as := log.get()
			slices.SortFunc(as, func(a, b client.Attempt) int { return int(a.Start - b.Start) })
			late, won := as[0], as[1]
			if late.Transport != sc.ladder[0] || won.Transport != sc.ladder[1] || late.Won || !won.Won {
				t.Fatalf("attempts %+v, want %s late and %s won", as, sc.ladder[0], sc.ladder[1])
			}
			if late.RTT <= 0 {
				t.Fatalf("no round trip measured: %+v", late)
			}
			want := min(openTimeout, max(300*time.Millisecond, 250*time.Millisecond+3*late.RTT))
			if late.Late != want || late.Late >= openTimeout {
				t.Errorf("%s was given %v, want %v: scaled from the round trip %v", late.Transport, late.Late, want, late.RTT)
			}
			if won.Start < late.Late {
				t.Errorf("%s started at %v, before %s was late (%v): it did not fail", won.Transport, won.Start, late.Transport, late.Late)
			}
			if late.Err == nil {
				t.Errorf("the late %s was welcomed too", late.Transport)
			}
			mustEchoInc(t, c)
			waitUntil(t, "one session on the server", func() bool { return ss.srv.SessionCount() == 1 })
			t.Logf("%s late (given %v from a round trip of %v), %s started at %v and was welcomed at %v; connected in %v with OpenTimeout %v",
				late.Transport, late.Late, late.RTT.Round(time.Microsecond), won.Transport, won.Start.Round(time.Millisecond),
				(won.Start + won.Took).Round(time.Millisecond), (won.Start + won.Took).Round(time.Millisecond), openTimeout)
		})
	}
}

// switchWatch counts a client's connects, disconnects and transport changes.
type switchWatch struct {
	mu          sync.Mutex
	connects    int
	disconnects int
	changes     []string // "from>to"
}

func watchSwitches(c *client.Client) *switchWatch {
	w := &switchWatch{}
	c.OnConnect(func() { w.mu.Lock(); w.connects++; w.mu.Unlock() })
	c.OnDisconnect(func(error) { w.mu.Lock(); w.disconnects++; w.mu.Unlock() })
	c.OnTransportChange(func(from, to string) {
		w.mu.Lock()
		w.changes = append(w.changes, from+">"+to)
		w.mu.Unlock()
	})
	return w
}

func (w *switchWatch) get() (connects, disconnects int, changes []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.connects, w.disconnects, slices.Clone(w.changes)
}

// TestBackgroundUpgrade: a session that connected on a fallback because the better
// transport was refused moves onto it once it works, under traffic both ways, through a
// resume: nothing lost, nothing duplicated, reported as a transport change and not as a
// reconnect.
func TestBackgroundUpgrade(t *testing.T) {
	t.Parallel()
	for _, sc := range switchCases {
		up, fallback := sc.ladder[0], sc.ladder[1]
		if up == client.XHRPolling { // upgrades go up the ladder: polling to WebSocket
			up, fallback = client.WebSocket, client.XHRPolling
		}
		t.Run(fallback+"-to-"+up, func(t *testing.T) {
			t.Parallel()
			g, wrap := newGate()
			g.set(up, gateRefuse)
			ss, hs := newStreamServer(t, sockhop.Options{MessageRate: -1}, wrap)
			defer g.close()
			c := client.New(hs.URL, client.Options{Transports: []string{up, fallback}, UpgradeDelay: 100 * time.Millisecond})
			tf := newTraffic(c, 1000)
			sw := watchSwitches(c)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport() != fallback {
				t.Fatalf("connected on %s, want %s", c.Transport(), fallback)
			}
			done := make(chan error, 1)
			go func() { done <- tf.run(ctx, c, 300, 3*time.Millisecond, true) }()
			waitUntil(t, "traffic", func() bool { return tf.next.Load() > 100 })
			opened := time.Now()
			g.set(up, gateOpen)
			waitUntil(t, "upgrade", func() bool { _, _, ch := sw.get(); return len(ch) > 0 })
			took := time.Since(opened)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			connects, disconnects, changes := sw.get()
			if want := fallback + ">" + up; len(changes) != 1 || changes[0] != want || connects != 1 || disconnects != 0 {
				t.Errorf("changes %q, %d connects, %d disconnects; want [%s], 1, 0", changes, connects, disconnects, want)
			}
			if c.Transport() != up {
				t.Errorf("on %s after the upgrade, want %s", c.Transport(), up)
			}
			ss.mu.Lock()
			dups := len(ss.dups)
			ss.mu.Unlock()
			if dups > 0 {
				t.Errorf("the server handled %d emits twice", dups)
			}
			t.Logf("%s to %s %v after the path opened (probes every ~100 ms, doubling); 1000 binary messages + 300 acked emits: lost %d, duplicated %d, server duplicates %d",
				fallback, up, took.Round(time.Millisecond), tf.lost.Load(), tf.dups.Load(), dups)
		})
	}
}

// TestLiveDowngrade: a transport that stops delivering mid-session (a proxy starts
// holding what the server writes) is noticed well within the heartbeat timeout, and the
// session moves to the next transport through a resume, under traffic: nothing lost,
// nothing duplicated, reported as a transport change.
func TestLiveDowngrade(t *testing.T) {
	t.Parallel()
	for _, sc := range switchCases {
		t.Run(sc.name(), func(t *testing.T) {
			t.Parallel()
			g, wrap := newGate()
			ss, hs := newStreamServer(t, sockhop.Options{MessageRate: -1}, wrap)
			defer g.close()
			c := client.New(hs.URL, client.Options{Transports: sc.ladder, UpgradeDelay: -1, Logger: testLogger()})
			tf := newTraffic(c, 1000)
			sw := watchSwitches(c)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport() != sc.ladder[0] {
				t.Fatalf("connected on %s, want %s", c.Transport(), sc.ladder[0])
			}
			done := make(chan error, 1)
			go func() { done <- tf.run(ctx, c, 300, 3*time.Millisecond, true) }()
			waitUntil(t, "traffic", func() bool { return tf.next.Load() > 100 })
			stalled := time.Now()
			g.set(sc.ladder[0], gateStall)
			waitUntil(t, "downgrade", func() bool { _, _, ch := sw.get(); return len(ch) > 0 })
			took := time.Since(stalled)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			connects, disconnects, changes := sw.get()
			if want := sc.ladder[0] + ">" + sc.ladder[1]; len(changes) != 1 || changes[0] != want || connects != 1 || disconnects != 0 {
				t.Errorf("changes %q, %d connects, %d disconnects; want [%s], 1, 0", changes, connects, disconnects, want)
			}
			ss.mu.Lock()
			dups := len(ss.dups)
			ss.mu.Unlock()
			if dups > 0 {
				t.Errorf("the server handled %d emits twice", dups)
			}
			g.set(sc.ladder[0], gateOpen)
			t.Logf("%s stalled, on %s %v later (heartbeat timeout 45 s); 1000 binary messages + 300 acked emits: lost %d, duplicated %d, server duplicates %d",
				sc.ladder[0], sc.ladder[1], took.Round(time.Millisecond), tf.lost.Load(), tf.dups.Load(), dups)
		})
	}
}

// TestLadderReleasesLateWelcome: a transport the server welcomes after the ladder took
// another one is closed with a close message at once, so that the server session opened
// for it ends then, not after ResumeGrace: it does not count against the address's
// limits and gets no events.
func TestLadderReleasesLateWelcome(t *testing.T) {
	t.Parallel()
	for _, sc := range switchCases {
		t.Run(sc.name(), func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			var held atomic.Int32
			auth := func(r *http.Request, _ json.RawMessage) (sockhop.Identity, error) {
				if requestTransport(r) == sc.ladder[0] { // a slow welcome on the first transport
					held.Add(1)
					select {
					case <-release:
					case <-time.After(10 * time.Second):
					}
				}
				return sockhop.Identity{}, nil
			}
			ss, hs := newStreamServer(t, sockhop.Options{Authenticate: auth})
			var log attemptLog
			c := client.New(hs.URL, client.Options{Transports: sc.ladder, OnAttempt: log.add, UpgradeDelay: -1})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				close(release)
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport() != sc.ladder[1] || held.Load() != 1 {
				close(release)
				t.Fatalf("connected on %s with %d hellos held, want %s and 1", c.Transport(), held.Load(), sc.ladder[1])
			}
			close(release) // the first transport is welcomed now, too late
			waitUntil(t, "the late attempt's report", func() bool { return len(log.get()) == 2 })
			for _, a := range log.get() {
				if a.Transport == sc.ladder[0] && (a.Won || a.Err != nil) {
					t.Fatalf("the late attempt: %+v, want welcomed and not taken", a)
				}
			}
			waitUntil(t, "the late session's end", func() bool { return ss.srv.SessionCount() == 1 })
			mustEchoInc(t, c)
		})
	}
}
