package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

// StartForTest runs an example's server in the background until t ends, and returns where
// it listens. run is the example's run function with its flags bound; it must call ready
// once it listens and return when ctx ends.
func StartForTest(t testing.TB, run func(ctx context.Context, ready func(Info)) error) Info {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	infos := make(chan Info, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(i Info) { infos <- i }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("server did not stop within 15s")
		}
		// A SockJS session whose client went away lives on in sockjs-go for its
		// disconnect delay (5s by default). Let it end here, so that the leak check of
		// TestMain sees only real leaks.
		for deadline := time.Now().Add(10 * time.Second); serverGoroutines() && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
	})
	select {
	case i := <-infos:
		return i
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("server did not start within 15s")
	}
	return Info{}
}

// Event is one event a Recorder saw.
type Event struct {
	Name string
	Data json.RawMessage
	At   time.Time
}

// Recorder collects the events a Go client receives, for tests.
type Recorder struct {
	mu   sync.Mutex
	evs  []Event       // guarded by mu
	used map[int]bool  // guarded by mu: events a Wait returned
	kick chan struct{} // signalled on every new event
}

// Record returns a Recorder of the named events of c. Call it before c connects.
func Record(c *client.Client, names ...string) *Recorder {
	r := &Recorder{used: make(map[int]bool), kick: make(chan struct{}, 1)}
	for _, name := range names {
		c.On(name, func(_ context.Context, data json.RawMessage) {
			r.mu.Lock()
			r.evs = append(r.evs, Event{Name: name, Data: data, At: time.Now()})
			r.mu.Unlock()
			select {
			case r.kick <- struct{}{}:
			default:
			}
		})
	}
	return r
}

// Wait returns the oldest event named name, not returned by an earlier Wait, for which
// match (nil: any) is true; it fails t after timeout.
func (r *Recorder) Wait(t testing.TB, name string, timeout time.Duration, match func(json.RawMessage) bool) Event {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i, e := range r.evs {
			if !r.used[i] && e.Name == name && (match == nil || match(e.Data)) {
				r.used[i] = true
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.kick:
		case <-deadline.C:
			t.Fatalf("no %q event matching within %v; saw %s", name, timeout, r.String())
			return Event{}
		}
	}
}

// Count returns how many events named name arrived so far.
func (r *Recorder) Count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.evs {
		if e.Name == name {
			n++
		}
	}
	return n
}

// String lists the recorded events (the last 20), for failure messages.
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	evs := r.evs
	if len(evs) > 20 {
		evs = evs[len(evs)-20:]
	}
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s %s", e.Name, e.Data)
	}
	return b.String()
}

// Transports are the transports every example test runs on.
var Transports = []string{client.WebSocket, client.XHRStreaming, client.XHRPolling}

// serverGoroutines reports whether goroutines of sockjs-go or of sockhop's sessions are
// still alive (the browser driver's own goroutines do not count).
func serverGoroutines() bool {
	for _, g := range testutil.Leaks() {
		if strings.Contains(g, "igm/sockjs-go") || strings.Contains(g, "sockhop/sockhop/session") {
			return true
		}
	}
	return false
}
