package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
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
		// sockjs-go keeps a goroutine per SockJS session for its DisconnectDelay after
		// this; the leak check of TestMain (testutil.Main) knows and waits for those.
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

// Main is an example's run function: its flags in args, its output to stdout; it calls
// ready once it listens and returns when ctx ends.
type Main func(ctx context.Context, args []string, stdout io.Writer, ready func(Info)) error

// StartExample runs an example (-addr 127.0.0.1:0 and args) until t ends, and returns where
// it listens.
func StartExample(t testing.TB, run Main, args ...string) Info {
	t.Helper()
	return StartForTest(t, func(ctx context.Context, ready func(Info)) error {
		return run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard, ready)
	})
}

// Dial connects a Go client to the sockhop URL url on transport alone (through hc when not
// nil), recording the named events, and closes it when t ends.
func Dial(t testing.TB, url, transport string, hc *http.Client, events ...string) (*client.Client, *Recorder) {
	t.Helper()
	c := client.New(url, client.Options{Transports: []string{transport}, HTTPClient: hc})
	rec := Record(c, events...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("dial %s over %s: %v", url, transport, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if got := c.Transport(); got != transport {
		t.Fatalf("transport %q, want %q", got, transport)
	}
	return c, rec
}

// Ask emits name with v and waits up to 10 s for the ack: its data, or the error ack.
func Ask(c *client.Client, name string, v any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.EmitWithAck(ctx, name, v)
}

// MustAsk is Ask, failing t on an error.
func MustAsk(t testing.TB, c *client.Client, name string, v any) json.RawMessage {
	t.Helper()
	data, err := Ask(c, name, v)
	if err != nil {
		t.Fatalf("%s %v: %v", name, v, err)
	}
	return data
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
