// Command swarm is the load of TestGoClients, in a process of its own (built without the
// race detector, which would make the test's 50 clients its bottleneck): it connects N Go
// clients (package client) to a sockhop cluster on one transport, joins them to one room,
// makes two of them, on different nodes, send numbered acked "say" messages with a window
// of unanswered acks, waits until every client got every message, and prints a JSON report
// (see report) of what each got: lost, duplicated, reordered, per node.
//
//	swarm -url http://127.0.0.1:8080/rt -transport xhr-polling -clients 50 -per 2000
//
// It exits 1 only when it could not run (a client that cannot connect); what the run
// found is for the caller to judge.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/clustertest"
)

// report is the JSON swarm prints.
type report struct {
	PerNode  map[string]int     `json:"per_node"` // clients per node id
	Senders  []sender           `json:"senders"`
	SendMS   int64              `json:"send_ms"`  // first say to last ack
	TotalMS  int64              `json:"total_ms"` // first say to the last delivery
	Totals   clustertest.Counts `json:"totals"`   // over every receiver and sender
	Bad      []string           `json:"bad"`      // receivers with a loss, dup or reorder (first 20)
	Waiting  []string           `json:"waiting"`  // receivers still short at the deadline (first 20)
	Expected int                `json:"expected"` // deliveries a perfect run makes
}

type sender struct {
	Name  string `json:"name"`
	Node  string `json:"node"`
	Acked int    `json:"acked"`
	Error string `json:"error,omitempty"` // the first error of an emit
}

type member struct {
	c    *client.Client
	name string
	node string
	said *clustertest.Tally
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "swarm:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "", "the sockhop mount, through the load balancer (http://127.0.0.1:8080/rt)")
	tr := flag.String("transport", "websocket", "websocket, xhr-streaming or xhr-polling")
	n := flag.Int("clients", 50, "clients in the room")
	per := flag.Int("per", 2000, "messages each of the two senders sends")
	window := flag.Int("window", 64, "most unanswered acks per sender")
	room := flag.String("room", "swarm", "the room")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound of the whole run")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	ms, err := connect(ctx, *url, *tr, *room, *n)
	defer func() {
		for _, m := range ms {
			if m != nil {
				_ = m.c.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	rep := report{PerNode: map[string]int{}, Expected: 2 * *per * *n}
	a, b := ms[0], (*member)(nil)
	for _, m := range ms {
		rep.PerNode[m.node]++
		if b == nil && m.node != a.node {
			b = m
		}
	}
	if b == nil {
		return fmt.Errorf("all %d clients are on node %s", *n, a.node)
	}
	start := time.Now()
	senders := []*member{a, b}
	rep.Senders = make([]sender, 2)
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() {
			acked, err := sayWindow(ctx, s.c, *room, s.name, *per, *window)
			rep.Senders[i] = sender{Name: s.name, Node: s.node, Acked: acked}
			if err != nil {
				rep.Senders[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	rep.SendMS = time.Since(start).Milliseconds()
	// Every ack is in: the last broadcasts are on their way. Wait for them, within 30 s.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep.Waiting = rep.Waiting[:0]
		for _, m := range ms {
			if m.said.Got(a.name) < *per || m.said.Got(b.name) < *per {
				rep.Waiting = append(rep.Waiting, fmt.Sprintf("%s (%s): %d from %s, %d from %s", m.name, m.node, m.said.Got(a.name), a.name, m.said.Got(b.name), b.name))
			}
		}
		if len(rep.Waiting) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rep.TotalMS = time.Since(start).Milliseconds()
	if len(rep.Waiting) > 20 {
		rep.Waiting = rep.Waiting[:20]
	}
	for _, m := range ms {
		for _, s := range senders {
			c := m.said.Count(s.name, *per)
			rep.Totals.Add(c)
			if !c.OK() && len(rep.Bad) < 20 {
				rep.Bad = append(rep.Bad, fmt.Sprintf("%s (%s) from %s: %+v", m.name, m.node, s.name, c))
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// connect connects n clients, 10 at a time, joins them to room and asks each its node.
func connect(ctx context.Context, url, tr, room string, n int) ([]*member, error) {
	ms := make([]*member, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m := &member{name: fmt.Sprintf("g%d", i), said: clustertest.NewTally()}
			m.c = client.New(url, client.Options{Transports: []string{tr}, OpenTimeout: 5 * time.Second, AckTimeout: 20 * time.Second})
			m.c.On("said", func(_ context.Context, data json.RawMessage) {
				var s struct {
					N    int    `json:"n"`
					From string `json:"from"`
					Seq  int    `json:"seq"`
				}
				if err := json.Unmarshal(data, &s); err != nil {
					s.N = -1
				}
				m.said.Add(s.From, s.N, s.Seq)
			})
			if errs[i] = m.c.Connect(ctx); errs[i] != nil {
				return
			}
			ms[i] = m
			raw, err := m.c.EmitWithAck(ctx, "whoami", nil)
			if err == nil {
				var w struct{ Node string }
				err = json.Unmarshal(raw, &w)
				m.node = w.Node
			}
			if err == nil {
				_, err = m.c.EmitWithAck(ctx, "join", map[string]string{"room": room})
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return ms, fmt.Errorf("connecting %d clients on %s: %w", n, tr, err)
	}
	return ms, nil
}

// sayWindow sends the numbers 0 to n-1 from from, each an acked message, with up to
// window unanswered at once. They may leave in any order (EmitWithAck runs on a goroutine
// each): the node numbers them as it handles them (seq), and that is the order every
// receiver must see. It returns how many were acked and the first error.
func sayWindow(ctx context.Context, c *client.Client, room, from string, n, window int) (acked int, firstErr error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, window)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := c.EmitWithAck(ctx, "say", map[string]any{"room": room, "n": i, "from": from})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acked++
			} else if firstErr == nil {
				firstErr = fmt.Errorf("message %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	return acked, firstErr
}
