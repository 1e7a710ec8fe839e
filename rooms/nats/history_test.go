package nats

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/historytest"
)

// startHistoryNode makes and starts an adapter on n (histories need the connection); it
// is closed when t ends.
func startHistoryNode(t *testing.T, n *testutil.NATS, memory bool) *Adapter {
	t.Helper()
	opts := fastOptions(n, t)
	opts.HistoryMemory = memory
	a, _ := startNode(t, opts)
	return a
}

// TestHistory runs the history and claimer conformance suites on a real nats-server with
// JetStream, with one adapter and with two (two nodes) on one server.
func TestHistory(t *testing.T) {
	t.Parallel()
	n := testutil.StartNATSJetStream(t)
	t.Run("Conformance", func(t *testing.T) {
		historytest.Run(t, func(t *testing.T) rooms.History { return startHistoryNode(t, n, false) })
	})
	t.Run("Claimer", func(t *testing.T) { historytest.RunClaimer(t, startHistoryNode(t, n, false)) })
	t.Run("TwoNodes", func(t *testing.T) {
		historytest.RunNodes(t, startHistoryNode(t, n, false), startHistoryNode(t, n, false))
	})
	t.Run("RestartInMemory", func(t *testing.T) {
		// Its own server; histories in memory are lost when it restarts.
		n := testutil.StartNATSJetStream(t)
		a := startHistoryNode(t, n, true)
		historytest.RunLost(t, a, func() {
			n.Kill()
			n.Start()
			for range 100 { // bounded: the adapter reconnects within its MaxBackoff
				if a.Stats().Connected {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatal("the adapter did not reconnect after the restart")
		})
	})
}

// TestHistoryFileStore: histories in the server's files survive its restart, positions and
// all.
func TestHistoryFileStore(t *testing.T) {
	t.Parallel()
	n := testutil.StartNATSJetStream(t)
	a := startHistoryNode(t, n, false)
	ctx := context.Background()
	opts := rooms.HistoryOptions{Size: 10, TTL: time.Minute}
	p1, err := a.Append(ctx, "kept", []byte("1"), opts)
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	n.Start()
	var p2 rooms.Position
	for range 100 { // bounded: until the adapter has reconnected
		if p2, err = a.Append(ctx, "kept", []byte("2"), opts); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || p2.Epoch != p1.Epoch || p2.Offset != 2 {
		t.Fatalf("Append after a restart = %v, %v; want offset 2 in epoch %q", p2, err, p1.Epoch)
	}
	es, _, complete, err := a.Since(ctx, "kept", rooms.Position{}, 0)
	if err != nil || !complete || len(es) != 2 || string(es[0].Data) != "1" {
		t.Fatalf("Since(zero) after a restart = %v, complete %v, %v", es, complete, err)
	}
}

// TestNoJetStream: on a server without JetStream, histories and claims fail with errors
// wrapping rooms.ErrNoHistory, and broadcasts still work.
func TestNoJetStream(t *testing.T) {
	t.Parallel()
	n := testutil.StartNATS(t)
	a := startHistoryNode(t, n, false)
	ctx := context.Background()
	if _, err := a.Append(ctx, "r", []byte("1"), rooms.HistoryOptions{Size: 1}); !errors.Is(err, rooms.ErrNoHistory) {
		t.Errorf("Append without JetStream: %v, want ErrNoHistory", err)
	}
	if _, _, _, err := a.Since(ctx, "r", rooms.Position{}, 0); !errors.Is(err, rooms.ErrNoHistory) {
		t.Errorf("Since without JetStream: %v, want ErrNoHistory", err)
	}
	if _, err := a.Claim(ctx, "k", time.Second); !errors.Is(err, rooms.ErrNoHistory) {
		t.Errorf("Claim without JetStream: %v, want ErrNoHistory", err)
	}
	if err := a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("x")}); err != nil {
		t.Errorf("Publish without JetStream: %v", err)
	}
}

// TestHistoryBeforeStart: before Start there is no connection: errors wrap
// rooms.ErrUnavailable.
func TestHistoryBeforeStart(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	if _, err := a.Append(context.Background(), "r", nil, rooms.HistoryOptions{}); !errors.Is(err, rooms.ErrUnavailable) {
		t.Errorf("Append before Start: %v, want ErrUnavailable", err)
	}
}
