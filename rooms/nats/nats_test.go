package nats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/adaptertest"
	"github.com/sockhop/sockhop/rooms/internal/nodetest"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// fastOptions are short timeouts, so outages show within a second.
func fastOptions(n *testutil.NATS, t testing.TB) Options {
	return Options{URL: n.URL(), Logger: nodetest.Logger(t),
		PublishTimeout: 300 * time.Millisecond, HealthInterval: 300 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
}

// TestConformance runs the adapter suite on a real nats-server.
func TestConformance(t *testing.T) {
	n := testutil.StartNATS(t)
	adaptertest.Run(t, adaptertest.Harness{
		NewAdapter: func(t *testing.T) rooms.Adapter {
			a, err := New(fastOptions(n, t))
			if err != nil {
				t.Fatal(err)
			}
			return a
		},
		Stop:   n.Stop,
		Start:  n.Start,
		Freeze: n.Pause,
		Thaw:   n.Resume,
	})
}

// startNode makes and starts an adapter; it is closed when t ends.
func startNode(t testing.TB, opts Options) (*Adapter, *nodetest.Sink) {
	t.Helper()
	a, err := New(opts)
	return nodetest.StartNode(t, a, err)
}

func TestSubjects(t *testing.T) {
	a, err := New(Options{SubjectPrefix: "app.v1"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, room := range []string{"", "a", "a.b", "a b", "*", ">", "\x00ctl", "\xff", strings.Repeat("x", 192), strings.Repeat("x", 193), strings.Repeat("y", 5000)} {
		subj := a.subjectOf(room)
		if !strings.HasPrefix(subj, "app.v1.r.") || strings.Count(subj, ".") != 3 || strings.ContainsAny(subj, " *>\t\r\n\x00") || len(subj) > 300 {
			t.Errorf("room %q: subject %q", room, subj)
		}
		if prev, dup := seen[subj]; dup {
			t.Errorf("rooms %q and %q share subject %q", prev, room, subj)
		}
		seen[subj] = room
	}
	if got := a.subjectFor([]string{"a", "b"}); got != "app.v1.all" {
		t.Errorf("multi-room subject %q", got)
	}
	for _, bad := range []string{"a..b", ".a", "a.", "a b", "a.*", ">", "a.>"} {
		if _, err := New(Options{SubjectPrefix: bad}); err == nil {
			t.Errorf("SubjectPrefix %q accepted", bad)
		}
	}
}

// TestStats: counters of a stream, own messages never come back (NoEcho), an oversized
// publication fails at once.
func TestStats(t *testing.T) {
	n := testutil.StartNATS(t)
	ctx := context.Background()
	a, sa := startNode(t, fastOptions(n, t))
	b, sb := startNode(t, fastOptions(n, t))
	nodetest.Must(t, a.Subscribe(ctx, "r"))
	nodetest.Must(t, b.Subscribe(ctx, "r"))
	nodetest.Must(t, b.Subscribe(ctx, "r"))
	nodetest.Must(t, b.Subscribe(ctx, "s"))
	for range 99 {
		nodetest.Must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("x")}))
	}
	nodetest.Must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r", "s"}, Data: []byte("last")}))
	sb.WaitData(t, 10*time.Second, "last")
	if st := b.Stats(); st.Delivered != 100 || st.Rooms != 2 || st.Subjects != 3 || !st.Connected || st.Malformed != 0 || st.Dropped != 0 {
		t.Errorf("B stats %+v", st)
	}
	if !nodetest.Eventually(5*time.Second, func() bool { return a.Stats().Published == 100 }) {
		t.Errorf("A stats %+v", a.Stats())
	}
	if sa.Len() != 0 || a.Stats().Skipped != 0 {
		t.Errorf("A got its own broadcasts back: %d, stats %+v", sa.Len(), a.Stats())
	}
	big := rooms.Publication{Rooms: []string{"r"}, Data: make([]byte, 2<<20)} // nats-server's limit is 1 MiB
	if err := a.Publish(ctx, big); !errors.Is(err, natsgo.ErrMaxPayload) {
		t.Errorf("Publish of 2 MiB: %v, want ErrMaxPayload", err)
	}
	// A message that is not ours, on our subject, is counted and dropped.
	nc, err := natsgo.Connect(n.URL())
	nodetest.Must(t, err)
	defer nc.Close()
	nodetest.Must(t, nc.Publish(b.subjectOf("r"), []byte("not sockhop")))
	nodetest.Must(t, nc.Flush())
	if !nodetest.Eventually(5*time.Second, func() bool { return b.Stats().Malformed == 1 }) {
		t.Errorf("B stats after a foreign message: %+v", b.Stats())
	}
}

// TestOutageStats: a node that starts while NATS is down counts one disconnect and one
// reconnect; a kill and restart counts another pair and reports the outage's length.
func TestOutageStats(t *testing.T) {
	n := testutil.StartNATS(t)
	ctx := context.Background()
	n.Stop()
	b, sb := startNode(t, fastOptions(n, t))
	if err := b.Subscribe(ctx, "r"); !errors.Is(err, rooms.ErrUnavailable) {
		t.Errorf("Subscribe while down: %v, want ErrUnavailable", err)
	}
	if st := b.Stats(); st.Connected || st.Disconnects != 1 {
		t.Errorf("stats while down: %+v", st)
	}
	n.Start()
	if !nodetest.Eventually(5*time.Second, func() bool { return b.Stats().Connected }) {
		t.Fatalf("not connected 5s after NATS came up: %+v", b.Stats())
	}
	a, _ := startNode(t, fastOptions(n, t))
	nodetest.Must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("1")}))
	sb.WaitData(t, 10*time.Second, "1")
	n.Kill()
	if !nodetest.Eventually(5*time.Second, func() bool { return !b.Stats().Connected && !a.Stats().Connected }) {
		t.Fatalf("loss not noticed: a=%+v b=%+v", a.Stats(), b.Stats())
	}
	n.Start()
	if !nodetest.Eventually(10*time.Second, func() bool { return b.Stats().Connected && a.Stats().Connected }) {
		t.Fatalf("not reconnected: a=%+v b=%+v", a.Stats(), b.Stats())
	}
	nodetest.Must(t, a.Publish(ctx, rooms.Publication{Rooms: []string{"r"}, Data: []byte("2")}))
	sb.WaitData(t, 10*time.Second, "2")
	if st := b.Stats(); st.Disconnects != 2 || st.Reconnects != 2 || st.LastOutage <= 0 {
		t.Errorf("stats: %+v", st)
	}
}
