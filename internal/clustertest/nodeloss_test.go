package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

// Bounds of TestNodeLoss. The nodes heartbeat every ~2 s and forget a silent node after
// ~6 s (the lead's defaults); a client notices a dead node at once (its connection
// closes) and reconnects after a backoff below 1 s.
const (
	reconnectBound = 10 * time.Second // kill -> the client's new session on another node
	forgetBound    = 15 * time.Second // kill -> the survivors' Members and Presence forget
	goodbyeBound   = 5 * time.Second  // SIGTERM -> the same, after the node's goodbye
)

// mover is a client that keeps saying acked messages, one after the other, and keeps the
// outcome of each.
type mover struct {
	*goClient
	mu       sync.Mutex
	ok       int            // acked, guarded by mu
	okAfter  int            // acked after the kill, guarded by mu
	failed   map[string]int // resume_failed and other errors by kind, guarded by mu
	firstBad error          // first error that is not resume_failed
}

func (m *mover) run(ctx context.Context, room string, killed func() bool) {
	sid, _ := m.where()
	for n := 0; ctx.Err() == nil; n++ {
		// A new session (after a resume that failed) is in no room: join again first.
		if cur := m.SessionID(); cur != "" && cur != sid {
			jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := m.EmitWithAck(jctx, "join", map[string]string{"room": room}); err == nil {
				sid = cur
				_ = m.whoami(jctx)
			}
			cancel()
		}
		_, err := m.say(ctx, room, m.name, n)
		after := killed()
		m.mu.Lock()
		switch {
		case err == nil:
			m.ok++
			if after {
				m.okAfter++
			}
		case ctx.Err() != nil:
		case isResumeFailed(err):
			m.failed["resume_failed"]++
		case errors.Is(err, client.ErrNotConnected):
			m.failed["not_sent"]++ // refused at once, between two sessions: never pending
		default:
			m.failed[err.Error()]++
			if m.firstBad == nil {
				m.firstBad = fmt.Errorf("message %d: %w", n, err)
			}
		}
		m.mu.Unlock()
		if err != nil {
			time.Sleep(20 * time.Millisecond) // ErrNotConnected between sessions: no busy loop
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNodeLoss kills the node that holds some clients with SIGKILL in the middle of a run.
// Those clients reconnect to the other nodes within reconnectBound as new sessions (the
// welcome says resumed:false, since the state died with the node), and every acked emit
// they had in flight was acked or failed with resume_failed; the other clients carry on.
// The survivors forget the dead node's sessions (Members, Count, Presence) and tell the
// room (presence:leave) within forgetBound.
//
// It runs in parallel with TestBrokerOutage (and its brokers with each other): the three
// mostly wait for a TTL or a frozen broker, each on a cluster of its own.
func TestNodeLoss(t *testing.T) {
	t.Parallel()
	for _, kind := range brokers {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			testutil.ForEachTransport(t, func(t *testing.T, tr string) {
				t.Parallel() // a cluster each: they wait for the TTL together
				nodeLoss(t, kind, tr, false)
			})
		})
	}
}

// TestNodeShutdown is TestNodeLoss with a node that stops gracefully (SIGTERM: sockhop's
// Shutdown), as in a rolling deploy: its clients are told to reconnect elsewhere (within
// ShutdownRetry, 5 s), start new sessions there, and every pending ack is answered or
// failed; the node says goodbye, so the others forget it at once.
func TestNodeShutdown(t *testing.T) {
	t.Parallel()
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		nodeLoss(t, redisBroker, tr, true)
	})
}

func nodeLoss(t *testing.T, kind brokerKind, tr string, graceful bool) {
	c := startCluster(t, kind, 3)
	room := "loss"
	// Movers keep talking and reconnect; ghosts stop at the first disconnect, so the only
	// way their users leave the room is the survivors forgetting the dead node.
	movers := c.dialMany(t, "mover", tr, 9)
	ghosts := make([]*goClient, 9)
	for i := range ghosts {
		ghosts[i] = c.dial(t, fmt.Sprintf("ghost%d", i), tr, dialOpts{user: fmt.Sprintf("ghost%d", i), noReconnect: true})
	}
	for _, g := range append(slices.Clone(movers), ghosts...) {
		g.join(t, room)
	}
	// The victim: the node with the most clients of both kinds.
	on := func(gs []*goClient, id string) (out []*goClient) {
		for _, g := range gs {
			if _, nd := g.where(); nd == id {
				out = append(out, g)
			}
		}
		return out
	}
	victim := c.nodes[0]
	for _, nd := range c.nodes {
		if min(len(on(movers, nd.id)), len(on(ghosts, nd.id))) > min(len(on(movers, victim.id)), len(on(ghosts, victim.id))) {
			victim = nd
		}
	}
	vMovers, vGhosts := on(movers, victim.id), on(ghosts, victim.id)
	if len(vMovers) == 0 || len(vGhosts) == 0 {
		t.Fatalf("no node holds both a mover and a ghost; nodes %v", c.nodes)
	}
	var survivors []*node
	for _, nd := range c.nodes {
		if nd != victim {
			survivors = append(survivors, nd)
		}
	}
	// A watcher on each survivor, straight to it, sees the presence events.
	var watchers []*goClient
	for _, nd := range survivors {
		w := c.dial(t, "watch-"+nd.id, tr, dialOpts{user: "watch-" + nd.id, direct: nd})
		w.join(t, room)
		watchers = append(watchers, w)
	}
	oldSIDs := map[string]bool{}
	var ghostUsers []string
	for _, g := range append(slices.Clone(vMovers), vGhosts...) {
		sid, _ := g.where()
		oldSIDs[sid] = true
	}
	for _, g := range vGhosts {
		ghostUsers = append(ghostUsers, g.name)
	}
	// Before the kill, every survivor knows the victim's sessions.
	waitFor(t, 10*time.Second, "the survivors to list the victim's sessions", func() (bool, string) {
		for _, nd := range survivors {
			v, err := c.view(nd, room)
			if err != nil {
				return false, err.Error()
			}
			for sid := range oldSIDs {
				if !slices.Contains(v.Members, sid) {
					return false, fmt.Sprintf("%s lacks %s: %+v", nd, sid, v)
				}
			}
		}
		return true, ""
	})

	ctx, cancel := context.WithCancel(context.Background())
	var killedAt time.Time
	var killMu sync.Mutex
	killed := func() bool { killMu.Lock(); defer killMu.Unlock(); return !killedAt.IsZero() }
	ms := make([]*mover, len(movers))
	var wg sync.WaitGroup
	for i, g := range movers {
		ms[i] = &mover{goClient: g, failed: map[string]int{}}
		wg.Go(func() { ms[i].run(ctx, room, killed) })
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(time.Second) // acks in flight everywhere

	killMu.Lock()
	killedAt = time.Now()
	killMu.Unlock()
	how := "killed with SIGKILL"
	if graceful {
		victim.proc.stop() // SIGTERM: Shutdown, and the process exits
		how = fmt.Sprintf("stopped with SIGTERM (exited after %v)", time.Since(killedAt).Round(time.Millisecond))
	} else {
		victim.proc.kill()
	}
	t.Logf("%s %s; it held %d movers, %d ghosts", victim, how, len(vMovers), len(vGhosts))

	// The victim's movers come back elsewhere, as new sessions.
	var worst time.Duration
	waitFor(t, reconnectBound+5*time.Second, "the victim's movers to reconnect", func() (bool, string) {
		var waiting []string
		for _, g := range vMovers {
			g.mu.Lock()
			// A killed node's sessions fail to resume (resumed:false); a stopped node
			// ended them, so the clients start new ones without trying.
			back := len(g.connects) > 0 && g.connects[len(g.connects)-1].After(killedAt) &&
				(graceful || len(g.resumeFailed) > 0)
			g.mu.Unlock()
			if !back {
				waiting = append(waiting, g.name)
			}
		}
		return len(waiting) == 0, "waiting for " + strings.Join(waiting, ", ")
	})
	for _, g := range vMovers {
		g.mu.Lock()
		took := g.connects[len(g.connects)-1].Sub(killedAt)
		g.mu.Unlock()
		worst = max(worst, took)
		if took > reconnectBound {
			t.Errorf("%s reconnected %v after the kill, want <= %v", g.name, took, reconnectBound)
		}
	}
	// Their new sessions live on a survivor, and keep working: acks after the kill.
	waitFor(t, 10*time.Second, "the victim's movers to get acks on their new sessions", func() (bool, string) {
		for _, m := range ms {
			m.mu.Lock()
			n := m.okAfter
			m.mu.Unlock()
			if n < 3 {
				return false, fmt.Sprintf("%s: %d acks after the kill", m.name, n)
			}
		}
		return true, ""
	})
	for _, g := range vMovers {
		sid, nd := g.where()
		if oldSIDs[sid] || nd == victim.id || c.byID(nd) == nil {
			t.Errorf("%s after the kill: session %s on node %s, want a new session on a survivor", g.name, sid, nd)
		}
	}
	t.Logf("the victim's %d movers reconnected within %v (bound %v)", len(vMovers), worst.Round(time.Millisecond), reconnectBound)

	// The survivors forget the victim's sessions and users.
	bound := forgetBound
	if graceful {
		bound = goodbyeBound
	}
	forgot := waitFor(t, time.Until(killedAt.Add(bound)), "the survivors to forget the victim's sessions", func() (bool, string) {
		for _, nd := range survivors {
			v, err := c.view(nd, room)
			if err != nil {
				return false, err.Error()
			}
			for _, sid := range v.Members {
				if oldSIDs[sid] {
					return false, fmt.Sprintf("%s still lists %s", nd, sid)
				}
			}
			for _, u := range ghostUsers {
				if slices.Contains(v.Presence, u) {
					return false, fmt.Sprintf("%s still has user %s present", nd, u)
				}
			}
			if v.Count != len(v.Members) {
				return false, fmt.Sprintf("%s: count %d, %d members", nd, v.Count, len(v.Members))
			}
		}
		return true, ""
	})
	t.Logf("survivors forgot the victim's sessions and users %v after the kill (bound %v; %v after the reconnects)",
		time.Since(killedAt).Round(time.Millisecond), bound, forgot.Round(time.Millisecond))
	for _, w := range watchers {
		waitFor(t, max(time.Until(killedAt.Add(bound)), 2*time.Second), w.name+" to get presence:leave for every ghost", func() (bool, string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, u := range ghostUsers {
				if !slices.Contains(w.presence, "leave "+u) {
					return false, fmt.Sprintf("no presence:leave for %s; got %v", u, w.presence)
				}
			}
			return true, ""
		})
	}

	cancel()
	wg.Wait()
	for _, m := range ms {
		onVictim := slices.Contains(vMovers, m.goClient)
		m.mu.Lock()
		t.Logf("%s (victim's: %v): %d acked (%d after the kill), failed %v", m.name, onVictim, m.ok, m.okAfter, m.failed)
		if m.firstBad != nil {
			t.Errorf("%s: an acked emit neither acked nor failed with resume_failed: %v (all: %v)", m.name, m.firstBad, m.failed)
		}
		if !onVictim {
			m.goClient.mu.Lock()
			rf := len(m.goClient.resumeFailed)
			m.goClient.mu.Unlock()
			if rf > 0 || m.failed["resume_failed"] > 0 {
				t.Errorf("%s lives on a survivor, yet its session was not resumed (%d resume failures, %v)", m.name, rf, m.failed)
			}
		}
		m.mu.Unlock()
	}
}
