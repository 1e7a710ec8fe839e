package adaptertest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

// publisher publishes a numbered stream to one room until stopped, recording how Publish
// behaved: the stream B receives must be increasing (no duplicate, no reordering).
type publisher struct {
	seq, ok, failed atomic.Int64
	maxFail         atomic.Int64 // longest failing Publish, ns
	firstErr        atomic.Value // string
	stop            chan struct{}
	wg              sync.WaitGroup
}

func startPublisher(t *testing.T, a rooms.Adapter, room string) *publisher {
	p := &publisher{stop: make(chan struct{})}
	p.wg.Go(func() {
		for range 1_000_000 { // bounded; stopped long before
			select {
			case <-p.stop:
				return
			default:
			}
			n := p.seq.Add(1)
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := a.Publish(ctx, pub(one(room), strconv.FormatInt(n, 10)))
			cancel()
			if err != nil {
				if !errors.Is(err, rooms.ErrUnavailable) {
					t.Errorf("Publish while the backend is away: %v does not wrap ErrUnavailable", err)
				}
				p.firstErr.CompareAndSwap(nil, err.Error())
				p.failed.Add(1)
				if d := int64(time.Since(t0)); d > p.maxFail.Load() {
					p.maxFail.Store(d)
				}
				time.Sleep(time.Millisecond) // pacing the load while Publish fails at once
				continue
			}
			p.ok.Add(1)
			time.Sleep(200 * time.Microsecond) // pacing the load
		}
	})
	return p
}

func (p *publisher) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// checkIncreasing fails t unless the numbered broadcasts in got increase strictly.
func checkIncreasing(t *testing.T, got []rooms.Publication) {
	t.Helper()
	prev := int64(0)
	for i, p := range got {
		n, err := strconv.ParseInt(string(p.Data), 10, 64)
		if err != nil || n <= prev {
			t.Fatalf("broadcast %d: %q after %d: out of order or duplicated", i, p.Data, prev)
		}
		prev = n
	}
}

// crossed publishes data from a to room until b has it, failing after timeout: right after
// a recovery, b may not have resubscribed yet.
func crossed(t *testing.T, a rooms.Adapter, b node, room, data string, timeout time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for {
		_ = a.Publish(context.Background(), pub(one(room), data))
		if slices.ContainsFunc(b.snapshot(), func(p rooms.Publication) bool { return string(p.Data) == data }) {
			return time.Since(t0)
		}
		if time.Since(t0) > timeout {
			t.Fatalf("%q to %q did not cross in %v after the backend came back", data, room, timeout)
		}
		time.Sleep(20 * time.Millisecond) // until b has resubscribed, a broadcast misses it: try again
	}
}

// testDown stops the backend in the middle of a stream: Publish fails quickly with
// ErrUnavailable, a Subscribe made during the outage is kept, and once the backend is back
// every room of interest receives again, and the stream is in order without duplicates.
func (s *suite) testDown(t *testing.T) {
	ctx := context.Background()
	a, b := s.newNode(t), s.newNode(t)
	for _, r := range []string{"r1", "r2", "\x00ctl"} {
		must(t, b.Subscribe(ctx, r))
	}
	p := startPublisher(t, a, "r2")
	defer p.halt()
	b.waitFor(wait, func(g []rooms.Publication) bool { return len(g) >= 100 })

	s.h.Stop()
	stopped := time.Now()
	restarted := false
	defer func() {
		if !restarted {
			s.h.Start()
		}
	}()
	for p.failed.Load() == 0 {
		if time.Since(stopped) > s.h.MaxFailTime {
			t.Fatalf("no Publish failed in %v after the backend stopped", s.h.MaxFailTime)
		}
		time.Sleep(5 * time.Millisecond) // polling the publisher
	}
	noticed := time.Since(stopped)
	failing := p.failed.Load()
	// During the outage: Publish keeps failing fast; a new interest is kept.
	subErr := b.Subscribe(ctx, "during")
	if subErr != nil && !errors.Is(subErr, rooms.ErrUnavailable) {
		t.Errorf("Subscribe during the outage: %v, want nil or ErrUnavailable", subErr)
	}
	time.Sleep(200 * time.Millisecond) // an outage of some length
	if p.failed.Load() == failing {
		t.Error("Publish stopped failing while the backend was down")
	}
	s.h.Start()
	restarted = true
	before := p.seq.Load()
	b.waitFor(s.h.Recovery, func(g []rooms.Publication) bool {
		if len(g) == 0 {
			return false
		}
		n, _ := strconv.ParseInt(string(g[len(g)-1].Data), 10, 64)
		return n > before
	})
	recovery := time.Since(stopped)
	p.halt()
	fence := p.seq.Add(1)
	must(t, a.Publish(ctx, pub(one("r2"), strconv.FormatInt(fence, 10))))
	checkIncreasing(t, b.waitFor(wait, func(g []rooms.Publication) bool {
		return len(g) > 0 && string(g[len(g)-1].Data) == strconv.FormatInt(fence, 10)
	}))
	if d := time.Duration(p.maxFail.Load()); d > s.h.MaxFailTime {
		t.Errorf("a failing Publish took %v, more than %v", d, s.h.MaxFailTime)
	}
	// Every room of interest receives again, the one subscribed during the outage too.
	crossed(t, a, b, "r1", "r1 after", wait)
	crossed(t, a, b, "\x00ctl", "ctl after", wait)
	crossed(t, a, b, "during", "during after", wait)
	t.Logf("outage: first failure %v after stop, crossing again %v after stop (backend down ~%v); "+
		"%d publishes ok, %d failed (max %v per failing call; first: %v)",
		noticed.Round(time.Millisecond), recovery.Round(time.Millisecond), (200 * time.Millisecond),
		p.ok.Load(), p.failed.Load(), time.Duration(p.maxFail.Load()).Round(time.Microsecond), p.firstErr.Load())
}

// testStartWhileDown: a node starts while the backend is down (Start does not wait for
// it), records its rooms, and receives once the backend appears.
func (s *suite) testStartWhileDown(t *testing.T) {
	ctx := context.Background()
	s.h.Stop()
	started := false
	defer func() {
		if !started {
			s.h.Start()
		}
	}()
	t0 := time.Now()
	b := s.newNode(t)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Start took %v with the backend down", d)
	}
	if err := b.Subscribe(ctx, "r"); err != nil && !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("Subscribe while down: %v, want nil or ErrUnavailable", err)
	}
	if err := b.Publish(ctx, pub(one("r"), "x")); !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("Publish while down: %v, want ErrUnavailable", err)
	}
	s.h.Start()
	started = true
	a := s.newNode(t)
	crossed(t, a, b, "r", "after start", s.h.Recovery)
}

// testHung freezes the backend (connections open, nothing answers): Publish calls keep
// returning within MaxFailTime and soon fail with ErrUnavailable; after the thaw,
// broadcasts cross again.
func (s *suite) testHung(t *testing.T) {
	ctx := context.Background()
	a, b := s.newNode(t), s.newNode(t)
	must(t, b.Subscribe(ctx, "r"))
	must(t, a.Publish(ctx, pub(one("r"), "before")))
	b.waitData(wait, "before")

	p := startPublisher(t, a, "r")
	defer p.halt()
	s.h.Freeze()
	frozen := time.Now()
	thawed := false
	defer func() {
		if !thawed {
			s.h.Thaw()
		}
	}()
	for p.failed.Load() == 0 {
		if time.Since(frozen) > s.h.Recovery {
			t.Fatalf("no Publish failed in %v while the backend hung", s.h.Recovery)
		}
		time.Sleep(5 * time.Millisecond) // polling the publisher
	}
	noticed := time.Since(frozen)
	time.Sleep(300 * time.Millisecond) // a hang of some length: reconnection attempts must not count as recovered
	s.h.Thaw()
	thawed = true
	t1 := time.Now()
	p.halt()
	if d := time.Duration(p.maxFail.Load()); d > s.h.MaxFailTime {
		t.Errorf("a failing Publish took %v, more than %v", d, s.h.MaxFailTime)
	}
	back := crossed(t, a, b, "r", "after thaw", s.h.Recovery)
	checkIncreasingPrefix(t, b.snapshot())
	t.Logf("hang: first failing Publish %v after the freeze (max %v per failing call); crossing again %v after the thaw (%v)",
		noticed.Round(time.Millisecond), time.Duration(p.maxFail.Load()).Round(time.Millisecond),
		back.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
}

// checkIncreasingPrefix checks the numbered part of a stream (before its text broadcasts).
func checkIncreasingPrefix(t *testing.T, got []rooms.Publication) {
	t.Helper()
	var nums []rooms.Publication
	for _, p := range got {
		if _, err := strconv.ParseInt(string(p.Data), 10, 64); err == nil {
			nums = append(nums, p)
		}
	}
	checkIncreasing(t, nums)
}
