package clustertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

// durableHistory is the nodes' -history-size in TestDurableCatchUp.
const durableHistory = 30

// TestDurableCatchUp runs two nodes whose "d:" rooms are durable, their histories in the
// real broker (Redis Streams; JetStream), on every transport: a Go client subscribed to a
// durable room loses its node (SIGKILL) while another client keeps sending to the room;
// the client comes back on the other node as a new session, subscribes again from its
// position and gets every message once (recovered true). Later, a client that was away
// while more than the history's size was sent subscribes from its old position and is
// told recovered false. Subscriptions that the rule refuses are refused on either node.
func TestDurableCatchUp(t *testing.T) {
	t.Parallel()
	for _, kind := range brokers {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			testutil.ForEachTransport(t, func(t *testing.T, tr string) {
				t.Parallel() // a cluster each
				durableCatchUp(t, kind, tr)
			})
		})
	}
}

// subResults records the results of a client's automatic re-subscriptions.
type subResults struct {
	mu  sync.Mutex
	got []client.SubscribeResult
	err []error
}

func (r *subResults) add(res client.SubscribeResult, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = append(r.err, err)
		return
	}
	r.got = append(r.got, res)
}

func (r *subResults) snapshot() ([]client.SubscribeResult, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.SubscribeResult(nil), r.got...), append([]error(nil), r.err...)
}

// wantRefused fails t unless err is an error ack with code forbidden.
func wantRefused(t *testing.T, what string, res client.SubscribeResult, err error) {
	t.Helper()
	var e *sockhop.Error
	if !errors.As(err, &e) || e.Code != "forbidden" {
		t.Errorf("%s: %+v, %v; want an error ack with code forbidden", what, res, err)
	}
}

func durableCatchUp(t *testing.T, kind brokerKind, tr string) {
	c := startCluster(t, kind, 2, "-durable", "d:", "-history-size", fmt.Sprint(durableHistory))
	n0, n1 := c.nodes[0], c.nodes[1]
	room := "d:news-" + tr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The sender stays on node 1, straight to it. The reader is on node 0, through nginx,
	// so that it finds node 1 when node 0 dies; its reconnection waits a second, long
	// enough for the sender to send while it is away.
	sender := c.dial(t, "sender-"+tr, tr, dialOpts{user: "sender", direct: n1})
	reader := c.dialOnWith(t, "reader-"+tr, tr, n0, dialOpts{user: "reader", backoff: time.Second})
	var resubs subResults
	reader.OnSubscribe(resubs.add)

	// Refused: by the Channel's rule, and a room no Channel covers.
	res, err := reader.Subscribe(ctx, "d:refused-"+tr)
	wantRefused(t, "subscribe to a room the rule refuses, on node 0", res, err)
	res, err = reader.Subscribe(ctx, "plain-"+tr)
	wantRefused(t, "subscribe to a room no Channel covers, on node 0", res, err)
	// Allowed.
	res, err = reader.Subscribe(ctx, room)
	if err != nil || res.Pos == nil {
		t.Fatalf("subscribe to %s on node 0: %+v, %v; want a position (a durable room)", room, res, err)
	}

	say := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			out, err := sender.say(ctx, room, "s", i)
			if err != nil || out["err"] != nil {
				t.Fatalf("say %d: %v, %v", i, out, err)
			}
		}
	}
	const before, during = 10, 10
	say(0, before)
	waitFor(t, 10*time.Second, "the reader to get the first messages", func() (bool, string) {
		return reader.said.Got("s") >= before, fmt.Sprintf("%d of %d", reader.said.Got("s"), before)
	})

	n0.proc.kill()
	killed := time.Now()
	say(before, before+during) // while the reader is away
	sent := time.Now()
	waitFor(t, 30*time.Second, "the reader to subscribe again on node 1", func() (bool, string) {
		got, errs := resubs.snapshot()
		return len(got) > 0 || len(errs) > 0, "no re-subscription yet"
	})
	got, errs := resubs.snapshot()
	if len(errs) > 0 || len(got) != 1 || got[0].Room != room || !got[0].Recovered {
		t.Fatalf("re-subscription on node 1: %+v, errors %v; want %s recovered", got, errs, room)
	}
	t.Logf("re-subscribed %v after the kill", time.Since(killed).Round(time.Millisecond))
	if err := reader.whoami(ctx); err != nil {
		t.Fatal(err)
	}
	if _, nd := reader.where(); nd == n0.id {
		t.Fatalf("the reader is still on the dead node %s", n0)
	}
	waitFor(t, 10*time.Second, "the reader to catch up", func() (bool, string) {
		return reader.said.Got("s") >= before+during, fmt.Sprintf("%d of %d", reader.said.Got("s"), before+during)
	})
	// Live after the catch-up, and once more to flush what may still be on its way.
	say(before+during, before+during+5)
	total := before + during + 5
	waitFor(t, 10*time.Second, "the reader to get the live messages", func() (bool, string) {
		return reader.said.Got("s") >= total, fmt.Sprintf("%d of %d", reader.said.Got("s"), total)
	})
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	if cn := reader.said.Count("s", total); !cn.OK() || cn.Got != total {
		t.Errorf("reader after losing its node: %+v; want all %d once, in order", cn, total)
	}
	reader.mu.Lock()
	t.Logf("node 0 killed; %d messages sent in the next %v; the reader reconnected %d times, %d resume failures; recovered %v",
		during, sent.Sub(killed).Round(time.Millisecond), len(reader.connects), len(reader.resumeFailed), got[0].Recovered)
	reader.mu.Unlock()

	// Refused and allowed on node 1 too.
	res, err = reader.Subscribe(ctx, "d:refused-"+tr)
	wantRefused(t, "subscribe to a room the rule refuses, on node 1", res, err)

	// Trimmed: the reader goes away for good; more than the history's size is sent; a new
	// client with the reader's positions subscribes from them.
	positions := reader.Positions()
	if p, ok := positions[room]; !ok || p.Offset != uint64(total) {
		t.Fatalf("reader's positions %v: want %s at offset %d", positions, room, total)
	}
	_ = reader.Close()
	say(total, total+durableHistory+10)
	late := c.dial(t, "late-"+tr, tr, dialOpts{user: "late", positions: positions})
	res, err = late.Subscribe(ctx, room)
	if err != nil || res.Recovered {
		t.Fatalf("subscribe from a position older than the history: %+v, %v; want recovered false", res, err)
	}
	end := total + durableHistory + 10
	if res.Pos == nil || res.Pos.Offset != uint64(end) {
		t.Errorf("position after the trimmed catch-up: %+v, want offset %d", res.Pos, end)
	}
	// What the history still had arrived before the answer, at most once each; live
	// messages follow.
	say(end, end+1)
	waitFor(t, 10*time.Second, "the late client to get a live message", func() (bool, string) {
		// Message end arrived when it is not lost among 0…end.
		return late.said.Count("s", end+1).Lost == late.said.Count("s", end).Lost, "not yet"
	})
	if cn := late.said.Count("s", 0); cn.Dup != 0 || cn.Reordered != 0 || cn.Got > durableHistory+1 {
		t.Errorf("late client: %+v; want at most the %d kept and the live one, each once, in order", cn, durableHistory)
	}
	res, err = late.Subscribe(ctx, "d:refused-"+tr)
	wantRefused(t, "subscribe to a room the rule refuses, late client", res, err)
}
