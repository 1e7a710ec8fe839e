package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Config configures a [Node].
type Config struct {
	// ID is this node's id, Addr the base URL other nodes forward requests to, Secret the
	// value a forwarded request must carry to be trusted with its client's address.
	ID, Addr, Secret string
	// Heartbeat is how often the node says it is alive; a node silent for TTL is dead.
	Heartbeat, TTL time.Duration
	// Publish sends data to every other node (the adapter's Publish to [Room]). It is
	// called from one goroutine, one message after another.
	Publish func(ctx context.Context, data []byte) error
	// OnChange gets presence changes, local and remote, in the order they happened,
	// one call at a time. It must not block or call the Node.
	OnChange func([]Change)
	// OnKick closes this node's sessions of user and returns how many it closed. It must
	// not block.
	OnKick func(user string) int
	Log    *slog.Logger
}

// Node keeps this node's part of the cluster: it tells the other nodes what changes in its
// sessions (ops, numbered), says it is alive (heartbeats), and keeps a view of every live
// node's sessions and rooms built from what they tell. A node that misses an op (the
// broker lost it) notices the gap by the numbers and asks for a snapshot; a node that
// stays silent for TTL is forgotten with its sessions.
type Node struct {
	cfg  Config
	wake chan struct{} // cap 1: the queue has something
	emu  sync.Mutex    // held while OnChange runs, so changes reach it in order

	mu       sync.Mutex
	v        *view
	self     *peer
	queue    []out
	snapping bool // a snapshot of ours is queued
	partial  map[string]*snapAcc
	kicks    map[uint64]*kickWait
	kickID   uint64
	dir      map[string]*dirEntry // where the nodes are, kept longer than their sessions
	dropped  int                  // ops not queued because the queue was full; logged once per run

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type out struct {
	op   Op
	seq  uint64
	m    *msg          // nil: an op
	sent chan struct{} // closed once m is published, when not nil
}

// dirEntry is where a node said it is. A node is forwarded to for dirTTLs × TTL after
// its last heartbeat, longer than its sessions are kept: a broker that is late for a
// moment must not send a session's requests to the wrong node, and a dead node's address
// refuses at once (Unreachable).
type dirEntry struct {
	addr, secret string
	seen         time.Time
	unreachable  time.Time // when forwarding to it last failed
}

const dirTTLs = 10

type snapAcc struct {
	q    uint64
	next int
	ss   []SnapSession
}

type kickWait struct {
	want map[string]bool
	got  map[string]int
	ch   chan struct{} // cap 1: a reply arrived
}

// maxQueue bounds the messages waiting for the broker; past it ops are dropped, and the
// other nodes, seeing the gap in their numbers, ask for a snapshot.
const maxQueue = 100_000

// New returns a Node; Start starts it.
func New(cfg Config) *Node {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Node{cfg: cfg, wake: make(chan struct{}, 1), v: newView(), partial: make(map[string]*snapAcc), kicks: make(map[uint64]*kickWait), dir: make(map[string]*dirEntry)}
	n.self = n.v.peer(cfg.ID)
	n.self.addr, n.self.secret, n.self.synced = cfg.Addr, cfg.Secret, true
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n
}

// Start says hello to the cluster (a heartbeat, and a request for everyone's snapshot)
// and starts the node's two goroutines: the publisher and the heartbeat.
func (n *Node) Start() {
	n.mu.Lock()
	n.enqueueLocked(&msg{T: tHeartbeat, N: n.cfg.ID, A: n.cfg.Addr, K: n.cfg.Secret})
	n.enqueueLocked(&msg{T: tSync, N: n.cfg.ID})
	n.mu.Unlock()
	n.wg.Add(2)
	go n.publishLoop()
	go n.heartbeatLoop()
}

// Stop sends what is queued and a goodbye (so that the others forget this node at once),
// waiting at most until ctx is done, and stops the goroutines.
func (n *Node) Stop(ctx context.Context) {
	sent := make(chan struct{})
	n.mu.Lock()
	n.queue = append(n.queue, out{m: &msg{T: tBye, N: n.cfg.ID}, sent: sent})
	n.signal()
	n.mu.Unlock()
	select {
	case <-sent:
	case <-ctx.Done():
	}
	n.cancel()
	n.wg.Wait()
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Secret returns the node's forwarding secret.
func (n *Node) Secret() string { return n.cfg.Secret }

// Local applies an op of this node's own sessions and queues it for the others.
func (n *Node) Local(op Op) {
	n.mu.Lock()
	ch := changes{}
	n.v.apply(n.self, op, ch)
	n.self.seq++
	if n.cfg.Publish == nil { // alone: nobody to tell
	} else if len(n.queue) >= maxQueue {
		n.dropped++
		if n.dropped == 1 {
			n.cfg.Log.Warn("cluster: the broker is too slow; dropping ops, the other nodes will ask for a snapshot")
		}
	} else {
		n.queue = append(n.queue, out{op: op, seq: n.self.seq})
		n.signal()
	}
	n.deliverUnlock(ch)
}

// deliverUnlock unlocks n.mu and hands ch to OnChange, in order with every other call.
func (n *Node) deliverUnlock(ch changes) {
	if len(ch) == 0 {
		n.mu.Unlock()
		return
	}
	n.emu.Lock()
	n.mu.Unlock()
	defer n.emu.Unlock()
	if n.cfg.OnChange != nil {
		n.cfg.OnChange(ch.list())
	}
}

func (n *Node) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Node) enqueueLocked(m *msg) {
	n.queue = append(n.queue, out{m: m})
	n.signal()
}

// enqueueSnapLocked queues a snapshot of this node's sessions, in parts.
func (n *Node) enqueueSnapLocked() {
	if n.snapping {
		return
	}
	n.snapping = true
	ss := n.self.snapshot()
	for p := 0; ; p++ {
		k := min(snapPart, len(ss))
		n.enqueueLocked(&msg{T: tSnap, N: n.cfg.ID, Q: n.self.seq, P: p, Last: k == len(ss), S: ss[:k]})
		ss = ss[k:]
		if len(ss) == 0 {
			return
		}
	}
}

func (n *Node) publishLoop() {
	defer n.wg.Done()
	failing := false
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for i := 0; i < len(q); {
			m, sent := q[i].m, q[i].sent
			if m == nil { // a run of ops, batched
				j := i
				for j < len(q) && q[j].m == nil && j-i < opsPerMsg {
					j++
				}
				ops := make([]Op, j-i)
				for k := range ops {
					ops[k] = q[i+k].op
				}
				m = &msg{T: tOps, N: n.cfg.ID, Q: q[i].seq, O: ops}
				i = j
			} else {
				i++
			}
			if m.T == tSnap && m.Last {
				n.mu.Lock()
				n.snapping = false
				n.mu.Unlock()
			}
			data, _ := json.Marshal(m)
			ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
			err := n.cfg.Publish(ctx, data)
			cancel()
			if sent != nil {
				close(sent)
			}
			switch {
			case err != nil && !failing:
				failing = true
				n.cfg.Log.Warn("cluster: publish failed; the other nodes will catch up when the broker is back", "err", err)
			case err == nil && failing:
				failing = false
				n.cfg.Log.Info("cluster: publishing again")
			}
		}
	}
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		n.mu.Lock()
		n.enqueueLocked(&msg{T: tHeartbeat, N: n.cfg.ID, A: n.cfg.Addr, K: n.cfg.Secret, Q: n.self.seq})
		ch := changes{}
		for id, p := range n.v.nodes {
			switch {
			case p == n.self:
			case now.Sub(p.seen) > n.cfg.TTL:
				n.cfg.Log.Warn("cluster: node silent, forgetting it and its sessions", "node", id, "sessions", len(p.sessions))
				n.v.drop(p, ch)
				delete(n.partial, id)
				continue
			case !p.synced:
				n.askLocked(p, now)
			}
		}
		for id, d := range n.dir {
			if now.Sub(d.seen) > dirTTLs*n.cfg.TTL {
				delete(n.dir, id)
			}
		}
		n.deliverUnlock(ch)
	}
}

// askLocked asks p for a snapshot, at most once a heartbeat.
func (n *Node) askLocked(p *peer, now time.Time) {
	p.synced = false
	if now.Sub(p.asked) < n.cfg.Heartbeat {
		return
	}
	p.asked = now
	n.enqueueLocked(&msg{T: tSync, N: n.cfg.ID, To: p.id})
}

// Receive handles one message published by another node. It does not block.
func (n *Node) Receive(data []byte) {
	var m msg
	if err := json.Unmarshal(data, &m); err != nil || m.N == "" || m.N == n.cfg.ID {
		return
	}
	now := time.Now()
	n.mu.Lock()
	ch := changes{}
	var p *peer
	if m.T != tBye && m.T != tKicked && m.T != tKick {
		p = n.v.peer(m.N)
		p.seen = now
	}
	switch m.T {
	case tHeartbeat:
		p.addr, p.secret = m.A, m.K
		if m.A != "" {
			d := n.dir[m.N]
			if d == nil {
				d = &dirEntry{}
				n.dir[m.N] = d
			}
			d.addr, d.secret, d.seen = m.A, m.K, now
		}
		if !p.synced || p.seq != m.Q {
			n.askLocked(p, now)
		}
	case tOps:
		switch {
		case !p.synced:
			n.askLocked(p, now)
		case m.Q != p.seq+1:
			n.cfg.Log.Info("cluster: missed ops, asking for a snapshot", "node", m.N, "have", p.seq, "got", m.Q)
			n.askLocked(p, now)
		default:
			for _, op := range m.O {
				n.v.apply(p, op, ch)
			}
			p.seq += uint64(len(m.O))
		}
	case tSync:
		if m.To == "" { // a node that just started: it learns where we are at once
			n.enqueueLocked(&msg{T: tHeartbeat, N: n.cfg.ID, A: n.cfg.Addr, K: n.cfg.Secret, Q: n.self.seq})
		}
		if m.To == "" || m.To == n.cfg.ID {
			n.enqueueSnapLocked()
		}
	case tSnap:
		n.snapLocked(p, &m, ch)
	case tBye:
		delete(n.dir, m.N)
		if p := n.v.nodes[m.N]; p != nil {
			n.v.drop(p, ch)
			delete(n.partial, m.N)
		}
	case tKick:
		n.mu.Unlock()
		c := 0
		if n.cfg.OnKick != nil {
			c = n.cfg.OnKick(m.U)
		}
		n.mu.Lock()
		n.enqueueLocked(&msg{T: tKicked, N: n.cfg.ID, To: m.N, ID: m.ID, C: c})
	case tKicked:
		if w := n.kicks[m.ID]; w != nil && m.To == n.cfg.ID {
			w.got[m.N] += m.C
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	n.deliverUnlock(ch)
}

func (n *Node) snapLocked(p *peer, m *msg, ch changes) {
	if p.synced && m.Q <= p.seq {
		return // up to date already (it answered someone else)
	}
	acc := n.partial[m.N]
	if m.P == 0 {
		acc = &snapAcc{q: m.Q}
		n.partial[m.N] = acc
	} else if acc == nil || acc.q != m.Q || acc.next != m.P {
		delete(n.partial, m.N) // a part went missing: the next heartbeat asks again
		return
	}
	acc.ss = append(acc.ss, m.S...)
	acc.next++
	if !m.Last {
		return
	}
	delete(n.partial, m.N)
	n.v.replace(p, acc.ss, ch)
	p.seq, p.synced = m.Q, true
}

// ErrIncomplete is wrapped by the error of a query that some node did not answer in time.
var ErrIncomplete = errors.New("cluster: a node did not answer")

// Kick asks the other nodes to close the sessions of user, and waits, until ctx is done
// (at most 5 s), for the answers of those that have some. It returns how many they closed.
func (n *Node) Kick(ctx context.Context, user string) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	n.mu.Lock()
	n.kickID++
	id := n.kickID
	w := &kickWait{want: make(map[string]bool), got: make(map[string]int), ch: make(chan struct{}, 1)}
	for nid, p := range n.v.nodes {
		if p == n.self {
			continue
		}
		for _, s := range p.sessions {
			if s.user == user {
				w.want[nid] = true
				break
			}
		}
	}
	n.kicks[id] = w
	n.enqueueLocked(&msg{T: tKick, N: n.cfg.ID, ID: id, U: user})
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.kicks, id)
		n.mu.Unlock()
	}()
	for {
		n.mu.Lock()
		total, missing := 0, []string(nil)
		for _, c := range w.got {
			total += c
		}
		for nid := range w.want {
			if _, ok := w.got[nid]; !ok && n.v.nodes[nid] != nil {
				missing = append(missing, nid)
			}
		}
		n.mu.Unlock()
		if len(missing) == 0 {
			return total, nil
		}
		select {
		case <-w.ch:
		case <-ctx.Done():
			slices.Sort(missing)
			return total, fmt.Errorf("%w: %v (%w)", ErrIncomplete, missing, ctx.Err())
		}
	}
}

// Members returns the ids of the sessions in room on every live node, sorted.
func (n *Node) Members(room string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.v.rooms[room]
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.members))
	for sid := range r.members {
		out = append(out, sid)
	}
	slices.Sort(out)
	return out
}

// Count returns the number of sessions in room on every live node.
func (n *Node) Count(room string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.v.rooms[room]; r != nil {
		return len(r.members)
	}
	return 0
}

// Users returns the users (Identity.UserID) with a session in room on any live node,
// sorted; anonymous sessions are not in it.
func (n *Node) Users(room string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.v.rooms[room]
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.users))
	for u := range r.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Lookup returns the address and forwarding secret of node id, another node that has
// said where it is within dirTTLs × TTL and has not failed a forward since.
func (n *Node) Lookup(id string) (addr, secret string, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.dir[id]
	if d == nil || id == n.cfg.ID || time.Since(d.seen) > dirTTLs*n.cfg.TTL || !d.unreachable.Before(d.seen) {
		return "", "", false
	}
	return d.addr, d.secret, true
}

// Unreachable marks node id as unreachable for forwarding until its next heartbeat.
func (n *Node) Unreachable(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d := n.dir[id]; d != nil {
		d.unreachable = time.Now()
	}
}

// NodeInfo describes one node as this one knows it.
type NodeInfo struct {
	ID, Addr string
	Sessions int
	Synced   bool
	Self     bool
}

// Nodes returns the live nodes, this one included, by id.
func (n *Node) Nodes() []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]NodeInfo, 0, len(n.v.nodes))
	for id, p := range n.v.nodes {
		out = append(out, NodeInfo{ID: id, Addr: p.addr, Sessions: len(p.sessions), Synced: p.synced, Self: p == n.self})
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return compare(a.ID, b.ID) })
	return out
}
