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
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
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

// sink collects what an adapter delivers, failing its test on timeouts.
type sink struct {
	t *testing.T
	*nodetest.Sink
}

func (s *sink) snapshot() []rooms.Publication { return s.Snapshot() }

func (s *sink) len() int { return s.Len() }

// waitFor waits until cond holds for what was delivered, failing after timeout.
func (s *sink) waitFor(timeout time.Duration, cond func([]rooms.Publication) bool) []rooms.Publication {
	s.t.Helper()
	return s.WaitFor(s.t, timeout, cond)
}

// waitData waits until the last delivered broadcast's Data is data (a fence: what the
// publisher sent before it has arrived, or never will) and returns what came before it.
func (s *sink) waitData(timeout time.Duration, data string) []rooms.Publication {
	s.t.Helper()
	return s.WaitData(s.t, timeout, data)
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
	k := &sink{t: t, Sink: nodetest.NewSink()}
	t.Cleanup(func() { // runs after the Close that Start registers
		if k.Overlapped() {
			t.Error("deliver was called concurrently")
		}
	})
	nodetest.Start(t, a, k.Deliver)
	return node{a, k}
}

var must = nodetest.Must

func pub(rs []string, data string, except ...string) rooms.Publication {
	return rooms.Publication{Rooms: rs, Except: except, Data: []byte(data)}
}

func one(room string) []string { return []string{room} }

// goroutineIDs returns the IDs of the running goroutines.
func goroutineIDs() map[string]bool {
	ids := make(map[string]bool)
	for _, g := range testutil.Stacks() {
		if id, _, ok := strings.Cut(strings.TrimPrefix(g, "goroutine "), " "); ok {
			ids[id] = true
		}
	}
	return ids
}

// newGoroutines returns the stacks of goroutines whose IDs are not in before.
func newGoroutines(before map[string]bool) []string {
	var out []string
	for _, g := range testutil.Stacks() {
		id, _, ok := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		if ok && !before[id] && !strings.Contains(g, "adaptertest.newGoroutines") {
			out = append(out, g)
		}
	}
	return out
}
