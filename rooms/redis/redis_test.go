package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// sink collects what an adapter delivers; deliver never blocks.
type sink struct {
	mu  sync.Mutex
	got []rooms.Publication
	ch  chan struct{}
}

func newSink() *sink { return &sink{ch: make(chan struct{}, 1)} }

func (s *sink) deliver(b rooms.Publication) {
	s.mu.Lock()
	s.got = append(s.got, b)
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
}

func (s *sink) snapshot() []rooms.Publication {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *sink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// waitFor waits until cond holds for what was delivered, failing after timeout.
func (s *sink) waitFor(t testing.TB, timeout time.Duration, cond func([]rooms.Publication) bool) []rooms.Publication {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		got := s.snapshot()
		if cond(got) {
			return got
		}
		select {
		case <-s.ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v with %d broadcasts delivered", timeout, len(got))
		}
	}
}

// eventually polls cond until it holds or timeout passes, for what the adapter reports
// only in its Stats; it reports whether cond held.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // the poll interval
	}
	return true
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// startNode makes and starts an adapter on r; it is closed when t ends.
func startNode(t testing.TB, r *testutil.Redis, opts Options) (*Adapter, *sink) {
	t.Helper()
	opts.Addr = r.Addr
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := newSink()
	if err := a.Start(context.Background(), s.deliver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil && !errors.Is(err, rooms.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return a, s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var layouts = []struct {
	name   string
	shards int
}{{"channel-per-room", 0}, {"shards-16", 16}}

// TestOrder10k: 10,000 broadcasts from node A to a room arrive at node B in order, none
// lost or duplicated, and A never gets its own.
func TestOrder10k(t *testing.T) {
	r := testutil.StartRedis(t)
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := "order-" + l.name
			a, sa := startNode(t, r, Options{KeyPrefix: prefix, Shards: l.shards})
			b, sb := startNode(t, r, Options{KeyPrefix: prefix, Shards: l.shards})
			must(t, a.Subscribe(ctx, "room")) // A has local members too: its own publishes come back
			must(t, b.Subscribe(ctx, "room"))
			const n = 10000
			start := time.Now()
			for i := range n {
				must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"room"}, Data: []byte(strconv.Itoa(i))}))
			}
			sb.waitFor(t, 30*time.Second, func(g []rooms.Publication) bool { return len(g) >= n })
			el := time.Since(start)
			// A fence: a duplicate of an earlier broadcast would arrive before it.
			must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"room"}, Data: []byte("fence")}))
			got := sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool { return string(g[len(g)-1].Data) == "fence" })
			if got = got[:len(got)-1]; len(got) != n {
				t.Fatalf("B got %d broadcasts, want %d", len(got), n)
			}
			for i, bc := range got {
				if string(bc.Data) != strconv.Itoa(i) || !slices.Equal(bc.Rooms, []string{"room"}) {
					t.Fatalf("broadcast %d: rooms %q data %q", i, bc.Rooms, bc.Data)
				}
			}
			if sa.len() != 0 {
				t.Fatalf("A delivered %d of its own broadcasts", sa.len())
			}
			st := b.Stats()
			if st.Delivered != n+1 || st.Malformed != 0 || !st.Connected {
				t.Fatalf("B stats %+v", st)
			}
			// A gets its own broadcasts back (it has members in the room) and skips them all.
			// Published counts Redis's replies, which may come after the echo did.
			if !eventually(5*time.Second, func() bool { st := a.Stats(); return st.Skipped == n+1 && st.Published == n+1 }) {
				t.Fatalf("A stats %+v", a.Stats())
			}
			t.Logf("%d sequential publishes A->B: %v (%.0f/s)", n, el, n/el.Seconds())
		})
	}
}

// TestUnsubscribe: counted subscriptions, and no delivery after the last Unsubscribe.
func TestUnsubscribe(t *testing.T) {
	r := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := startNode(t, r, Options{})
	b, sb := startNode(t, r, Options{})
	must(t, b.Subscribe(ctx, "r"))
	must(t, b.Subscribe(ctx, "r"))
	must(t, b.Subscribe(ctx, "fence"))
	must(t, b.Unsubscribe(ctx, "r"))
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("1")}))
	sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool { return len(g) == 1 })
	must(t, b.Unsubscribe(ctx, "r"))
	must(t, b.Unsubscribe(ctx, "never-subscribed"))
	if st := b.Stats(); st.Rooms != 1 || st.Channels != 2 {
		t.Fatalf("stats after unsubscribing: %+v", st)
	}
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("2")}))
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"fence"}, Data: []byte("3")}))
	got := sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool { return len(g) >= 2 })
	if string(got[1].Data) != "3" {
		t.Fatalf("after Unsubscribe B got %q", got[1].Data)
	}
}

// TestRestart kills Redis in the middle of a stream of broadcasts and starts it again on
// the same port: publishes fail quickly and visibly during the outage, the adapters
// reconnect and resubscribe by themselves, later broadcasts cross again, in order and
// without duplicates.
func TestRestart(t *testing.T) {
	t.Run("default-backoff", func(t *testing.T) { testRestart(t, Options{}) })
	t.Run("backoff-20ms-200ms", func(t *testing.T) {
		testRestart(t, Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, HealthInterval: time.Second})
	})
}

func testRestart(t *testing.T, opts Options) {
	r := testutil.StartRedis(t)
	ctx := context.Background()
	a, _ := startNode(t, r, opts)
	b, sb := startNode(t, r, opts)
	for _, room := range []string{"r1", "r2", "r3"} {
		must(t, b.Subscribe(ctx, room))
	}

	var (
		seq        atomic.Int64 // next sequence number to publish
		okCount    atomic.Int64
		errCount   atomic.Int64
		maxErrTime atomic.Int64
		firstErr   atomic.Value
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 200000; i++ { // bounded; stopped long before
			select {
			case <-stop:
				return
			default:
			}
			n := seq.Add(1)
			t0 := time.Now()
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := a.Publish(pctx, rooms.Publication{Rooms: []string{"r2"}, Data: []byte(strconv.FormatInt(n, 10))})
			cancel()
			if err != nil {
				if !errors.Is(err, rooms.ErrUnavailable) {
					t.Errorf("Publish during outage: %v does not wrap ErrUnavailable", err)
				}
				firstErr.CompareAndSwap(nil, err.Error())
				errCount.Add(1)
				if d := int64(time.Since(t0)); d > maxErrTime.Load() {
					maxErrTime.Store(d)
				}
				time.Sleep(time.Millisecond) // pacing the load while Publish fails at once
				continue
			}
			okCount.Add(1)
			time.Sleep(200 * time.Microsecond) // pacing the load
		}
	})

	sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool { return len(g) >= 200 })
	r.Kill()
	killed := time.Now()
	// Both nodes notice the loss, and publishes fail.
	if !eventually(500*time.Millisecond, func() bool {
		return !b.Stats().Connected && !a.Stats().Connected && errCount.Load() > 0
	}) {
		t.Fatalf("500ms after Redis died: a=%+v b=%+v, %d publishes failed", a.Stats(), b.Stats(), errCount.Load())
	}
	errsDuringOutage := errCount.Load()
	r.Start()
	restarted := time.Now()
	before := seq.Load()
	got := sb.waitFor(t, 15*time.Second, func(g []rooms.Publication) bool {
		if len(g) == 0 {
			return false
		}
		n, _ := strconv.ParseInt(string(g[len(g)-1].Data), 10, 64)
		return n > before
	})
	recovery := time.Since(restarted)
	// Keep going a little, then stop and check the whole stream.
	sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool { return len(g) >= len(got)+200 })
	close(stop)
	wg.Wait()
	// A fence: what is still on its way arrives before it.
	fence := seq.Add(1)
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r2"}, Data: []byte(strconv.FormatInt(fence, 10))}))
	all := sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool {
		return string(g[len(g)-1].Data) == strconv.FormatInt(fence, 10)
	})
	prev := int64(0)
	for i, bc := range all {
		n, err := strconv.ParseInt(string(bc.Data), 10, 64)
		if err != nil || n <= prev {
			t.Fatalf("broadcast %d: %q after %d: out of order or duplicated", i, bc.Data, prev)
		}
		prev = n
	}
	if errsDuringOutage == 0 {
		t.Error("no Publish failed while Redis was down")
	}
	if d := time.Duration(maxErrTime.Load()); d > 2*time.Second {
		t.Errorf("a failing Publish took %v", d)
	}
	sa, sbs := a.Stats(), b.Stats()
	if sbs.Disconnects < 1 || sbs.Reconnects < 1 || sa.Reconnects < 1 || !sbs.Connected || sbs.Rooms != 3 {
		t.Errorf("stats after recovery: a=%+v b=%+v", sa, sbs)
	}
	// Every room of interest was resubscribed, not just the busy one.
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r3"}, Data: []byte("r3 after restart")}))
	sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool {
		return len(g) > 0 && string(g[len(g)-1].Data) == "r3 after restart"
	})
	t.Logf("outage: killed at +0, restarted at +%v; first broadcast crossed %v after restart; "+
		"%d publishes ok, %d failed (max %v per failing call, first: %v); delivered %d; b.LastOutage=%v",
		restarted.Sub(killed).Round(time.Millisecond), recovery.Round(time.Millisecond),
		okCount.Load(), errCount.Load(), time.Duration(maxErrTime.Load()).Round(time.Microsecond),
		firstErr.Load(), len(all), sbs.LastOutage.Round(time.Millisecond))
}

// TestHang freezes Redis (SIGSTOP: connections stay open, nothing answers): Publish fails
// within its timeout, the health check notices the silent subscriber connection, and the
// adapter recovers once Redis continues.
func TestHang(t *testing.T) {
	r := testutil.StartRedis(t)
	ctx := context.Background()
	opts := Options{PublishTimeout: 300 * time.Millisecond, HealthInterval: 300 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DialTimeout: 300 * time.Millisecond}
	a, _ := startNode(t, r, opts)
	b, sb := startNode(t, r, opts)
	must(t, b.Subscribe(ctx, "r"))
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("before")}))
	sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool { return len(g) == 1 })

	r.Pause()
	t0 := time.Now()
	subErr := make(chan error, 1)
	go func() { subErr <- b.Subscribe(ctx, "late") }() // sent, never confirmed
	// Publish only queues: the first calls succeed, then the queue stays full or the
	// adapter notices the hang, and Publish fails, each call within its 300 ms timeout.
	var err error
	var pubDur time.Duration
	for err == nil && time.Since(t0) < 5*time.Second {
		t1 := time.Now()
		err = a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("during")})
		if pubDur = time.Since(t1); pubDur > time.Second {
			t.Fatalf("Publish to a hung Redis took %v", pubDur)
		}
	}
	failedAfter := time.Since(t0)
	if !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("Publish to a hung Redis: %v after %v, want ErrUnavailable", err, failedAfter)
	}
	if !eventually(5*time.Second, func() bool { return !b.Stats().Connected }) {
		t.Fatal("the health check did not notice the hung connection in 5s")
	}
	noticed := time.Since(t0)
	select {
	case err := <-subErr:
		if !errors.Is(err, rooms.ErrUnavailable) {
			t.Fatalf("Subscribe on the hung connection: %v, want ErrUnavailable", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Subscribe on the hung connection still waiting 2s after the loss")
	}
	// Still hung: a reconnection attempt reaches the kernel's TCP handshake but no Redis, and
	// must not count as recovered.
	for range 50 {
		if st := b.Stats(); st.Connected || st.Reconnects != 0 {
			t.Fatalf("flapped while Redis hung: %+v", st)
		}
		time.Sleep(20 * time.Millisecond) // watching a real hang for a second
	}
	r.Resume()
	t1 := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("nothing crossed 10s after Redis resumed: a=%+v b=%+v", a.Stats(), b.Stats())
		}
		if a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("after")}) == nil &&
			slices.ContainsFunc(sb.snapshot(), func(x rooms.Publication) bool { return string(x.Data) == "after" }) {
			break
		}
		time.Sleep(20 * time.Millisecond) // until B has resubscribed, a broadcast may miss it: try again
	}
	must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"late"}, Data: []byte("late")}))
	sb.waitFor(t, 5*time.Second, func(g []rooms.Publication) bool {
		return slices.ContainsFunc(g, func(x rooms.Publication) bool { return string(x.Data) == "late" })
	})
	if st := a.Stats(); st.WriteErrors == 0 {
		t.Errorf("queued broadcasts lost in the hang were not counted: %+v", st)
	}
	t.Logf("hang: Publish failed after %v, loss noticed after %v, crossing again %v after resume",
		failedAfter.Round(time.Millisecond), noticed.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
}

// TestStartWhileDown: a node starts while Redis is down, records its rooms, and subscribes
// them when Redis appears.
func TestStartWhileDown(t *testing.T) {
	r := testutil.StartRedis(t)
	ctx := context.Background()
	r.Stop()
	opts := Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	t0 := time.Now()
	b, sb := startNode(t, r, opts)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Start took %v with Redis down", d)
	}
	if err := b.Subscribe(ctx, "r"); !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("Subscribe while down: %v, want ErrUnavailable", err)
	}
	if err := b.Publish(ctx, rooms.Publication{Rooms: []string{"r"}}); !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("Publish while down: %v, want ErrUnavailable", err)
	}
	r.Start()
	a, _ := startNode(t, r, opts)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; sb.len() == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("nothing crossed 10s after Redis came up; b=%+v", b.Stats())
		}
		_ = a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte(strconv.Itoa(i))})
		time.Sleep(10 * time.Millisecond) // until B has subscribed, a broadcast misses it: try again
	}
	if st := b.Stats(); st.Disconnects != 1 || st.Reconnects != 1 {
		t.Errorf("stats: %+v", st)
	}
}
