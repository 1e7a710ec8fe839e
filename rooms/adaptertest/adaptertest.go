// Package adaptertest is a conformance suite for implementations of [rooms.Adapter]: what
// the interface's documentation promises, checked against real backends. An adapter's own
// test runs it with a [Harness] that makes nodes on one backend and, where it can, stops,
// restarts, freezes and thaws that backend:
//
//	func TestConformance(t *testing.T) {
//		srv := testutil.StartRedis(t)
//		adaptertest.Run(t, adaptertest.Harness{
//			NewAdapter: func(t *testing.T) rooms.Adapter { ... redis.New(redis.Options{Addr: srv.Addr}) ... },
//			Stop:       srv.Stop,
//			Start:      srv.Start,
//			Freeze:     srv.Pause,
//			Thaw:       srv.Resume,
//		})
//	}
//
// The suite checks: delivery to other nodes and never to the publishing node; counted
// Subscribe and Unsubscribe; a multi-room broadcast delivered once; Except and Data
// carried byte for byte; room names that are arbitrary bytes (the server's own control
// rooms start with "\x00"; names with spaces, dots, '*', '>' and bytes that are not
// UTF-8); the order of one goroutine's sequential Publish calls across different rooms;
// deliver called from one goroutine; Close stopping the adapter's goroutines and later
// calls returning [rooms.ErrClosed]; and, when the harness can stop the backend, Publish
// failing quickly with an error wrapping [rooms.ErrUnavailable] while it is down or hung,
// a node starting while it is down, and recovery: once it is back, subscriptions (also
// those made during the outage) are made again and broadcasts cross again, in order and
// without duplicates.
package adaptertest

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

// Harness is what [Run] needs to know of an adapter and its backend.
type Harness struct {
	// NewAdapter returns a new adapter, not started, for a new node on the harness's one
	// backend. Run starts and closes it. The adapter should use short timeouts (a few
	// hundred milliseconds for publish and health checks, back-off up to a few hundred
	// milliseconds), or the outage tests take long.
	NewAdapter func(t *testing.T) rooms.Adapter

	// Stop stops the backend, closing its connections, and Start starts it again at the
	// same address (a MemoryBus harness passes SetDown(true) and SetDown(false)). When
	// either is nil the outage tests are skipped.
	Stop, Start func()
	// Freeze makes the backend hang (connections stay open, nothing answers: SIGSTOP), and
	// Thaw undoes it. Nil skips the hang test.
	Freeze, Thaw func()

	// Recovery bounds how long the backend's return may take to show (a node reconnects,
	// resubscribes, broadcasts cross again). Zero means 10s.
	Recovery time.Duration
	// MaxFailTime bounds one Publish call while the backend is down or hung. Zero means 2s.
	MaxFailTime time.Duration
}

// Run runs the conformance suite as subtests of t. The subtests run one after another:
// some of them stop the backend.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.NewAdapter == nil {
		t.Fatal("adaptertest: Harness.NewAdapter is nil")
	}
	if h.Recovery <= 0 {
		h.Recovery = 10 * time.Second
	}
	if h.MaxFailTime <= 0 {
		h.MaxFailTime = 2 * time.Second
	}
	s := &suite{h: h}
	t.Run("DeliverToOthers", s.testDeliver)
	t.Run("Counted", s.testCounted)
	t.Run("MultiRoomExcept", s.testMultiRoom)
	t.Run("RoomNames", s.testRoomNames)
	t.Run("OrderAcrossRooms", s.testOrder)
	t.Run("ConcurrentPublishers", s.testConcurrent)
	t.Run("Close", s.testClose)
	if h.Stop != nil && h.Start != nil {
		t.Run("BackendDown", s.testDown)
		t.Run("StartWhileDown", s.testStartWhileDown)
	}
	if h.Freeze != nil && h.Thaw != nil {
		t.Run("BackendHung", s.testHung)
	}
}

type suite struct{ h Harness }

// Sink collects what an adapter delivers and checks that deliver is called from one
// goroutine at a time.
type sink struct {
	t       *testing.T
	mu      sync.Mutex
	got     []rooms.Publication
	ch      chan struct{}
	inside  atomic.Int32
	overlap atomic.Bool
}

func (s *sink) deliver(p rooms.Publication) {
	if s.inside.Add(1) != 1 {
		s.overlap.Store(true)
	}
	// Keep copies: the contract lets the adapter reuse what it passes after deliver.
	c := rooms.Publication{Rooms: slices.Clone(p.Rooms), Except: slices.Clone(p.Except), Data: slices.Clone(p.Data)}
	s.mu.Lock()
	s.got = append(s.got, c)
	s.mu.Unlock()
	s.inside.Add(-1)
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
func (s *sink) waitFor(timeout time.Duration, cond func([]rooms.Publication) bool) []rooms.Publication {
	s.t.Helper()
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
			s.t.Fatalf("timed out after %v with %d broadcasts delivered", timeout, len(got))
		}
	}
}

// waitData waits until the last delivered broadcast's Data is data (a fence: what the
// publisher sent before it has arrived, or never will) and returns what came before it.
func (s *sink) waitData(timeout time.Duration, data string) []rooms.Publication {
	s.t.Helper()
	got := s.waitFor(timeout, func(g []rooms.Publication) bool { return len(g) > 0 && string(g[len(g)-1].Data) == data })
	return got[:len(got)-1]
}

// node is one started adapter and what it delivered.
type node struct {
	rooms.Adapter
	*sink
}

// newNode makes and starts an adapter; it is closed when t ends, and the test fails if
// its deliver function was ever called concurrently.
func (s *suite) newNode(t *testing.T) node {
	t.Helper()
	a := s.h.NewAdapter(t)
	k := &sink{t: t, ch: make(chan struct{}, 1)}
	if err := a.Start(context.Background(), k.deliver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil && !errors.Is(err, rooms.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		if k.overlap.Load() {
			t.Error("deliver was called concurrently")
		}
	})
	return node{a, k}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pub(rs []string, data string, except ...string) rooms.Publication {
	return rooms.Publication{Rooms: rs, Except: except, Data: []byte(data)}
}

func one(room string) []string { return []string{room} }

// goroutineIDs returns the IDs of the running goroutines.
func goroutineIDs() map[string]bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	ids := make(map[string]bool)
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if id, _, ok := strings.Cut(strings.TrimPrefix(g, "goroutine "), " "); ok {
			ids[id] = true
		}
	}
	return ids
}

// newGoroutines returns the stacks of goroutines whose IDs are not in before.
func newGoroutines(before map[string]bool) []string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var out []string
	for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
		id, _, ok := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		if ok && !before[id] && !strings.Contains(g, "adaptertest.newGoroutines") {
			out = append(out, g)
		}
	}
	return out
}
