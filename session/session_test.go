package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/transport"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// fakeConn is an in-memory transport: frames from the peer arrive on in, frames written
// are recorded.
type fakeConn struct {
	in chan []byte

	mu        sync.Mutex
	written   [][]byte // each a frame
	closed    chan struct{}
	closeCode int
	once      sync.Once
	block     chan struct{} // when not nil, WriteFrame waits on it (a stalled peer)
	onWrite   func()        // when not nil, WriteFrame calls it first
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan []byte, 16), closed: make(chan struct{})}
}

func (c *fakeConn) Name() string { return "fake" }

func (c *fakeConn) ReadFrame() ([]byte, error) {
	select {
	case f := <-c.in:
		return f, nil
	case <-c.closed:
		return nil, transport.ErrClosed
	}
}

func (c *fakeConn) WriteFrame(msgs [][]byte) error {
	if c.onWrite != nil {
		c.onWrite()
	}
	if c.block != nil {
		select {
		case <-c.block:
		case <-c.closed:
			return transport.ErrClosed
		}
	}
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.Write(m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, []byte(b.String()))
	return nil
}

func (c *fakeConn) Close(code int, reason string) error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closeCode = code
		c.mu.Unlock()
		close(c.closed)
	})
	return nil
}

func (c *fakeConn) frames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.written))
	for i, f := range c.written {
		out[i] = string(f)
	}
	return out
}

func nop(ctx context.Context, m *events.Message) {}

// serve runs s.Serve over c in the background and returns a channel with its result.
func serve(s *Session, c *fakeConn) chan error { return background(s.Serve, c) }

// run runs s.Run over c in the background and returns a channel with its result.
func run(s *Session, c *fakeConn) chan error { return background(s.Run, c) }

func background(f func(transport.Conn, [][]byte) error, c *fakeConn) chan error {
	done := make(chan error, 1)
	go func() { done <- f(c, nil) }()
	return done
}

func TestServerDetectsSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := New(context.Background(), "s1", Config{PingInterval: 25 * time.Second, PongTimeout: 20 * time.Second}, HandlerFunc(nop))
		start := time.Now()
		done := serve(s, c)
		err := <-done
		if events.CloseCode(err) != events.CloseHeartbeatTimeout || !Dropped(err) {
			t.Fatalf("ended with %v, want a dropped transport with 4001", err)
		}
		defer s.Abort(&events.CloseError{Code: events.CloseNormal})
		if s.Err() != nil {
			t.Fatalf("the session ended with its transport: %v", s.Err())
		}
		// The first ping goes out within 22.5–25s (jitter), the pong timeout adds 20s.
		if d := time.Since(start); d < 42*time.Second || d > 45*time.Second {
			t.Fatalf("silent peer detected after %v, want 42.5–45s", d)
		}
		if c.closeCode != events.CloseHeartbeatTimeout {
			t.Fatalf("transport closed with %d", c.closeCode)
		}
	})
}

func TestServerKeepsAnsweringPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := New(context.Background(), "s1", Config{PingInterval: time.Second, PongTimeout: time.Second}, HandlerFunc(nop))
		done := serve(s, c)
		pings := 0
		for range 100 { // 100 s of virtual time, answering every ping
			time.Sleep(time.Second)
			synctest.Wait()
			for _, f := range c.frames()[pings:] {
				if strings.Contains(f, `"t":"ping"`) {
					c.in <- []byte(`{"t":"pong"}`)
				}
				pings++
			}
		}
		if s.Err() != nil {
			t.Fatalf("answering peer closed: %v", s.Err())
		}
		if pings < 100 {
			t.Fatalf("%d pings in 100s with a 1s interval", pings)
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		if err := <-done; events.CloseCode(err) != events.CloseNormal {
			t.Fatalf("ended with %v", err)
		}
	})
}

func TestPassiveDetectsDeadServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := New(context.Background(), "c1", Config{PingInterval: 25 * time.Second, PongTimeout: 20 * time.Second, Passive: true}, HandlerFunc(nop))
		start := time.Now()
		done := serve(s, c)
		// The server pings twice, then goes silent.
		time.Sleep(25 * time.Second)
		c.in <- []byte(`{"t":"ping"}`)
		time.Sleep(25 * time.Second)
		c.in <- []byte(`{"t":"ping"}`)
		lastHeard := time.Since(start)
		err := <-done
		if events.CloseCode(err) != events.CloseHeartbeatTimeout || !Dropped(err) {
			t.Fatalf("ended with %v, want a dropped transport with 4001", err)
		}
		defer s.Abort(&events.CloseError{Code: events.CloseNormal})
		if d := time.Since(start) - lastHeard; d != 45*time.Second {
			t.Fatalf("dead server declared %v after its last frame, want 45s", d)
		}
		for _, f := range c.frames() {
			if strings.Contains(f, `"t":"ping"`) {
				t.Fatalf("a passive session sent a ping: %s", f)
			}
		}
		if n := strings.Count(strings.Join(c.frames(), "\n"), `"t":"pong"`); n != 2 {
			t.Fatalf("%d pongs for 2 pings", n)
		}
	})
}

func TestCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := New(context.Background(), "s1", Config{}, HandlerFunc(nop))
		for i := range 100 {
			if err := s.Emit("n", []byte{byte('0' + i%10)}); err != nil {
				t.Fatal(err)
			}
		}
		done := serve(s, c)
		synctest.Wait()
		frames := c.frames()
		if len(frames) != 1 || strings.Count(frames[0], "\n") != 99 {
			t.Fatalf("100 queued messages went out as %d frames", len(frames))
		}
		if _, out := s.Seq(); out != 100 {
			t.Fatalf("out seq %d, want 100", out)
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		<-done
	})
}

func TestFrameSizeCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := New(context.Background(), "s1", Config{MaxFrameBytes: 1000}, HandlerFunc(nop))
		msg := `"` + strings.Repeat("x", 300) + `"`
		for range 10 {
			_ = s.Emit("n", []byte(msg))
		}
		_ = s.Emit("big", []byte(`"`+strings.Repeat("y", 5000)+`"`))
		done := serve(s, c)
		synctest.Wait()
		total := 0
		for _, f := range c.frames() {
			n := strings.Count(f, "\n") + 1
			total += n
			if len(f) > 1000 && n > 1 {
				t.Fatalf("a frame of %d bytes holds %d messages", len(f), n)
			}
		}
		if total != 11 {
			t.Fatalf("%d messages written, want 11", total)
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		<-done
	})
}

func TestSlowConsumerBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		c.block = make(chan struct{}) // the peer never drains
		s := New(context.Background(), "s1", Config{MaxQueueBytes: 10000}, HandlerFunc(nop))
		done := serve(s, c)
		var err error
		n := 0
		for ; err == nil && n < 1000; n++ {
			err = s.Emit("n", []byte(`"`+strings.Repeat("x", 100)+`"`))
		}
		if !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("after %d emits: %v, want ErrSlowConsumer", n, err)
		}
		// The queue holds 10,000/(122+32) = 64 of them, plus at most one batch of the same
		// size already taken by the writer.
		if n > 2*64+1 {
			t.Fatalf("%d emits of ~150 bytes fit a 10,000-byte queue", n)
		}
		if got := <-done; events.CloseCode(got) != events.CloseTryAgainLater {
			t.Fatalf("ended with %v, want 1013", got)
		}
		if err := s.Emit("n", nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("emit after close: %v", err)
		}
	})
}

func TestGracefulCloseFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		s := New(context.Background(), "s1", Config{}, HandlerFunc(nop))
		done := serve(s, c)
		_ = s.Emit("last", []byte(`1`))
		s.Close(&events.CloseError{Code: events.CloseGoingAway, Reason: "bye", Retry: 1500})
		if err := <-done; events.CloseCode(err) != events.CloseGoingAway {
			t.Fatalf("ended with %v", err)
		}
		all := strings.Join(c.frames(), "\n")
		if !strings.Contains(all, `"n":"last"`) || !strings.HasSuffix(all, `{"t":"close","code":1001,"reason":"bye","retry":1500}`) {
			t.Fatalf("written: %s", all)
		}
		if c.closeCode != events.CloseGoingAway {
			t.Fatalf("transport closed with %d", c.closeCode)
		}
	})
}

func TestEventsInOrderAndAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		var got []string
		var s *Session
		s = New(context.Background(), "s1", Config{}, HandlerFunc(func(ctx context.Context, m *events.Message) {
			got = append(got, string(m.Data))
			if m.ID != 0 {
				_ = s.Reply(m.ID, m.Data, nil)
			}
		}))
		done := serve(s, c)
		c.in <- []byte("{\"t\":\"ev\",\"n\":\"a\",\"d\":1}\n{\"t\":\"ev\",\"n\":\"a\",\"d\":2,\"id\":7}")
		c.in <- []byte(`{"t":"ev","n":"a","d":3}`)
		synctest.Wait()
		if strings.Join(got, ",") != "1,2,3" {
			t.Fatalf("handled %v", got)
		}
		if !strings.Contains(strings.Join(c.frames(), "\n"), `{"t":"ack","id":7,"d":2}`) {
			t.Fatalf("no ack in %v", c.frames())
		}
		if in, _ := s.Seq(); in != 3 {
			t.Fatalf("in seq %d, want 3", in)
		}
		// A request of ours answered by the peer.
		var reply []byte
		var rerr error
		go func() { reply, rerr = s.Request(context.Background(), "q", []byte(`"x"`)) }()
		synctest.Wait()
		c.in <- []byte(`{"t":"ack","id":1,"d":"y"}`)
		synctest.Wait()
		if rerr != nil || string(reply) != `"y"` {
			t.Fatalf("request: %s %v", reply, rerr)
		}
		// And one that times out.
		go func() { _, rerr = s.Request(context.Background(), "q", nil) }()
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if !errors.Is(rerr, ErrAckTimeout) {
			t.Fatalf("request without reply: %v", rerr)
		}
		c.in <- []byte(`{"t":"close","code":1000}`)
		if err := <-done; events.CloseCode(err) != events.CloseNormal {
			t.Fatalf("ended with %v", err)
		}
	})
}

// TestResume drops a transport in the middle of a stream and resumes on another: the
// peer gets every message once, in order, and what it acknowledged is not sent again.
func TestResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background(), "s1", Config{}, HandlerFunc(nop))
		defer s.Abort(&events.CloseError{Code: events.CloseNormal})
		c1 := newFakeConn()
		done := serve(s, c1)
		for i := 1; i <= 5; i++ {
			_ = s.Emit("n", []byte{byte('0' + i)})
			synctest.Wait()
		}
		c1.in <- []byte(`{"t":"pong","r":3}`) // the peer saw 1..3
		synctest.Wait()
		c1.Close(events.CloseAbnormal, "cut")
		if err := <-done; !Dropped(err) {
			t.Fatalf("transport end: %v, want dropped", err)
		}
		_ = s.Emit("n", []byte("6")) // queued while detached
		if s.Resume(6, nil) {
			t.Fatal("resumed from a seq never sent")
		}
		if !s.Resume(4, []byte(`{"t":"welcome"}`)) { // 4 arrived after all; 5 did not
			t.Fatal("resume refused")
		}
		c2 := newFakeConn()
		done = serve(s, c2)
		synctest.Wait()
		got := strings.Join(c2.frames(), "\n")
		want := `{"t":"welcome"}` + "\n" + `{"t":"ev","n":"n","d":5}` + "\n" + `{"t":"ev","n":"n","d":6}`
		if got != want {
			t.Fatalf("after resume:\n%s\nwant:\n%s", got, want)
		}
		if _, out := s.Seq(); out != 6 {
			t.Fatalf("out seq %d, want 6", out)
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		<-done
	})
}

// TestResumeImpossible: once the retained messages overflowed, a resume from before them
// is refused rather than silently skipping messages.
func TestResumeImpossible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background(), "s1", Config{ResumeBytes: 100}, HandlerFunc(nop))
		defer s.Abort(&events.CloseError{Code: events.CloseNormal})
		c := newFakeConn()
		done := serve(s, c)
		for range 10 {
			_ = s.Emit("n", []byte(`"0123456789"`))
			synctest.Wait()
		}
		c.Close(events.CloseAbnormal, "cut")
		<-done
		if s.Resume(0, nil) {
			t.Fatal("resumed although the first messages were dropped from the buffer")
		}
		if !s.Resume(10, nil) {
			t.Fatal("a peer that has everything could not resume")
		}
	})
}

// TestAckReports checks that a session acknowledges what it receives without waiting for
// a ping, so the peer's buffer stays small.
func TestAckReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s *Session
		s = New(context.Background(), "s1", Config{}, HandlerFunc(func(ctx context.Context, m *events.Message) {
			if m.ID != 0 {
				_ = s.Reply(m.ID, nil, nil)
			}
		}))
		c := newFakeConn()
		done := serve(s, c)
		written := func() string { return strings.Join(c.frames(), "\n") }
		for range reportEvery {
			c.in <- []byte(`{"t":"ev","n":"x"}`)
		}
		synctest.Wait()
		if strings.Contains(written(), `"t":"pong"`) {
			t.Fatalf("a pong of its own after %d messages: %v", reportEvery, c.frames())
		}
		// The next write carries the acknowledgement: a reply's.
		c.in <- []byte(`{"t":"ev","n":"x","id":1}`)
		synctest.Wait()
		if !strings.Contains(written(), `{"t":"ack","id":1}`+"\n"+`{"t":"pong","r":33}`) {
			t.Fatalf("no acknowledgement with the reply after %d messages: %v", reportEvery+1, c.frames())
		}
		// With nothing else to write, it goes out alone after reportLate more.
		for range reportLate - 1 {
			c.in <- []byte(`{"t":"ev","n":"x"}`)
		}
		synctest.Wait()
		if strings.Contains(written(), fmt.Sprintf(`"r":%d`, 32+reportLate)) {
			t.Fatalf("acknowledged after %d silent messages: %v", reportLate-1, c.frames())
		}
		c.in <- []byte(`{"t":"ev","n":"x"}`)
		synctest.Wait()
		if !strings.Contains(written(), fmt.Sprintf(`{"t":"pong","r":%d}`, 33+reportLate)) {
			t.Fatalf("no acknowledgement after %d silent messages: %v", reportLate, c.frames())
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		<-done
	})
}

// TestHoldReports: while a resume hello said seq on another transport (HoldReports), the
// session reports no more than seq, by acknowledgement or in a ping's answer; nested holds
// keep the lowest; once released it reports what arrived.
func TestHoldReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(context.Background(), "s1", Config{}, HandlerFunc(nop))
		c := newFakeConn()
		done := serve(s, c)
		send := func(n int) {
			for range n {
				c.in <- []byte(`{"t":"ev","n":"x"}`)
			}
			synctest.Wait()
		}
		reported := func() []string { // the r of every pong written so far
			var rs []string
			for _, f := range c.frames() {
				for _, l := range strings.Split(f, "\n") {
					if m, err := events.Decode([]byte(l)); err == nil && m.T == events.TypePong {
						rs = append(rs, l)
					}
				}
			}
			return rs
		}
		send(5)
		seq, release := s.HoldReports()
		seq2, release2 := s.HoldReports()
		if seq != 5 || seq2 != 5 {
			t.Fatalf("HoldReports = %d, %d; want 5 (messages received)", seq, seq2)
		}
		send(2 * reportEvery)
		c.in <- []byte(`{"t":"ping"}`) // the answer carries r too
		synctest.Wait()
		if got := s.AckSeq(); got != 5 {
			t.Errorf("AckSeq = %d while held at 5 (received %d)", got, s.ReceivedSeq())
		}
		for _, l := range reported() {
			if l != `{"t":"pong","r":5}` {
				t.Fatalf("reported %s while held at 5: %v", l, reported())
			}
		}
		release()
		release() // idempotent: the other hold stays
		send(reportEvery)
		if got := s.AckSeq(); got != 5 {
			t.Errorf("AckSeq = %d with one hold left at 5", got)
		}
		release2()
		if got, want := s.AckSeq(), uint64(5+3*reportEvery); got != want {
			t.Errorf("AckSeq = %d after release, want %d", got, want)
		}
		send(1) // the writer acknowledges the backlog at its next wake-up
		rs := reported()
		if want := fmt.Sprintf(`{"t":"pong","r":%d}`, 6+3*reportEvery); len(rs) == 0 || rs[len(rs)-1] != want {
			t.Errorf("after release the session reported %v, want %s last", rs, want)
		}
		s.Close(&events.CloseError{Code: events.CloseNormal})
		<-done
	})
}

// TestDispatcherOnDemand: events arriving in bursts of every size, some while the handler
// is still busy with the previous ones, are handled once each, in order, by a dispatcher
// that lingers between bursts; an idle session keeps none once dispatchLinger has passed.
func TestDispatcherOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeConn()
		const n = 3000
		var mu sync.Mutex
		var got []int
		s := New(context.Background(), "s1", Config{MaxQueuedEvents: 4}, HandlerFunc(func(ctx context.Context, m *events.Message) {
			var v int
			_ = json.Unmarshal(m.Data, &v)
			if v%7 == 0 {
				runtime.Gosched() // a busy handler now and then
			}
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		}))
		done := serve(s, c)
		for i := 0; i < n; {
			var b strings.Builder
			for k := 0; k < 1+i%9 && i < n; k++ {
				fmt.Fprintf(&b, "{\"t\":\"ev\",\"n\":\"a\",\"d\":%d}\n", i)
				i++
			}
			c.in <- []byte(b.String())
			if i%100 == 0 {
				synctest.Wait() // let the queue run dry: the dispatcher lingers
			}
			if i%300 == 0 {
				time.Sleep(2 * dispatchLinger) // and exits: the next event starts another
				synctest.Wait()
				if s.dispatching.Load() {
					t.Fatalf("after event %d: a dispatcher still runs %v after the queue ran dry", i, 2*dispatchLinger)
				}
			}
		}
		synctest.Wait()
		mu.Lock()
		for i, v := range got {
			if v != i {
				t.Fatalf("event %d handled as #%d (of %d handled)", v, i, len(got))
			}
		}
		if len(got) != n {
			t.Fatalf("handled %d events, want %d", len(got), n)
		}
		mu.Unlock()
		time.Sleep(2 * dispatchLinger)
		synctest.Wait()
		if s.dispatching.Load() {
			t.Fatal("a dispatcher still runs with nothing to handle")
		}
		c.in <- []byte(`{"t":"close","code":1000}`)
		<-done
	})
}

// TestDispatcherRace: an event queued just as the dispatcher found the queue empty (the
// reader saw a dispatcher running and started none) is still handled.
func TestDispatcherRace(t *testing.T) {
	c := newFakeConn()
	handled := make(chan string, 2)
	s := New(context.Background(), "s1", Config{}, HandlerFunc(func(ctx context.Context, m *events.Message) {
		handled <- m.Name
	}))
	var once sync.Once
	s.idleHook = func() {
		once.Do(func() {
			s.evq <- &events.Message{T: events.TypeEvent, Name: "late"}
			s.wakeDispatcher() // what the reader does: a dispatcher runs, so none starts
		})
	}
	done := serve(s, c)
	c.in <- []byte(`{"t":"ev","n":"first"}`)
	for _, want := range []string{"first", "late"} {
		select {
		case got := <-handled:
			if got != want {
				t.Fatalf("handled %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q never handled", want)
		}
	}
	c.in <- []byte(`{"t":"close","code":1000}`)
	<-done
}

// TestFrameWhole: a frame with a good event before a malformed line is refused whole:
// 1002, and the event neither counted as received nor handled.
func TestFrameWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		handled := 0
		s := New(context.Background(), "s1", Config{}, HandlerFunc(func(context.Context, *events.Message) { handled++ }))
		c := newFakeConn()
		done := serve(s, c)
		c.in <- []byte(`{"t":"ev","n":"a","d":1}`)
		synctest.Wait()
		c.in <- []byte("{\"t\":\"ev\",\"n\":\"a\",\"d\":2}\n{\"t\":\"ev\",\"n\":\"a\",\"id\":3}\n{\"t\":\"ev\",\"n\":")
		if err := <-done; events.CloseCode(err) != events.CloseProtocolError {
			t.Fatalf("ended with %v, want 1002", err)
		}
		s.Wait()
		if in, _ := s.Seq(); in != 1 || handled != 1 {
			t.Fatalf("%d events counted as received, %d handled; want 1 and 1", in, handled)
		}
	})
}

// TestRateCharges: what a peer's message costs. With a burst of 4 (and twice that before
// it is closed), empty frames and lines, pings, pongs that acknowledge nothing new, and
// acks of no request each cost one; pongs answering our pings or acknowledging new
// messages, and acks of our pending requests, cost nothing.
func TestRateCharges(t *testing.T) {
	cases := []struct {
		name   string
		frames []string
		closed bool
	}{
		{"empty frames", []string{"", "", "", "", "", "", "", ""}, false},
		{"empty frames past the tolerance", []string{"", "", "", "", "", "", "", "", ""}, true},
		{"empty lines", []string{"\n\n\n\n\n\n\n\n\n"}, true},
		{"pongs of nothing new", []string{strings.Repeat(`{"t":"pong","r":0}`+"\n", 9)}, true},
		{"pongs beyond what was written", []string{strings.Repeat(`{"t":"pong","r":99}`+"\n", 9)}, true},
		{"acks of no request", []string{strings.Repeat(`{"t":"ack","id":5}`+"\n", 9)}, true},
		{"the same ack twice", []string{`{"t":"ack","id":1}` + "\n" + strings.Repeat(`{"t":"ack","id":1}`+"\n", 9)}, true},
		{"acks of our requests", []string{`{"t":"ack","id":1}` + "\n" + `{"t":"ack","id":2}` + "\n" + strings.Repeat("\n", 7)}, false},
		{"pongs that acknowledge", []string{`{"t":"pong","r":1}` + "\n" + `{"t":"pong","r":2}` + "\n" + strings.Repeat("\n", 7)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := New(context.Background(), "s1", Config{RateLimit: 1, RateBurst: 4}, HandlerFunc(nop))
				c := newFakeConn()
				done := serve(s, c)
				for range 2 { // two requests of ours, pending: two counted messages written
					go func() { _, _ = s.Request(context.Background(), "q", nil) }()
				}
				synctest.Wait()
				for _, f := range tc.frames {
					c.in <- []byte(f)
				}
				synctest.Wait()
				if closed := s.Err() != nil; closed != tc.closed {
					t.Errorf("closed: %v (%v), want %v", closed, s.Err(), tc.closed)
				}
				if tc.closed && events.CloseCode(s.Err()) != events.ClosePolicyViolation {
					t.Errorf("ended with %v, want 1008", s.Err())
				}
				s.Close(&events.CloseError{Code: events.CloseNormal})
				<-done
				s.Wait()
			})
		})
	}
}

// TestTrimKeepsOrder: trimming acknowledged messages and retaining new ones, as the ring
// wraps around its end and grows while wrapped, keeps the unacknowledged ones in order and
// the byte count right, and a session with everything acknowledged keeps no more room than
// keepRetained.
func TestTrimKeepsOrder(t *testing.T) {
	s := New(context.Background(), "trim", Config{}, HandlerFunc(func(context.Context, *events.Message) {}))
	defer s.Abort(&events.CloseError{Code: events.CloseNormal})
	next := uint64(1)
	add := func(n int) {
		batch := make([]item, n)
		for i := range batch {
			batch[i] = item{b: []byte("0123456789"), counted: true, seq: next}
			next++
		}
		s.retain(batch)
	}
	check := func(from uint64) {
		t.Helper()
		retained := s.retained.appendTo(nil)
		if len(retained) != int(next-from) || s.retainedBytes != 10*len(retained) {
			t.Fatalf("retained %d messages, %d bytes; want %d", len(retained), s.retainedBytes, next-from)
		}
		for i, it := range retained {
			if it.seq != from+uint64(i) {
				t.Fatalf("retained[%d] has seq %d, want %d", i, it.seq, from+uint64(i))
			}
		}
	}
	add(10)
	s.trim(3) // 7 left of 10
	check(4)
	add(8) // 15 of 16: wraps around the end
	check(4)
	s.trim(8)
	check(9)
	add(5) // 16
	add(5) // grows while wrapped
	check(9)
	s.trim(next - 1)
	check(next)
	add(300)
	s.trim(next - 1)
	check(next)
	if len(s.retained.buf) > keepRetained {
		t.Fatalf("kept room for %d messages after all were acknowledged", len(s.retained.buf))
	}
}

// TestRepliesAndEmitsExactlyOnce: a handler's replies and another goroutine's events,
// queued together while the writer starts, lingers, ends and starts again, lose and
// repeat nothing: every ack and every emitted event reaches the peer once, the emitted
// ones in order.
func TestRepliesAndEmitsExactlyOnce(t *testing.T) {
	const events_, emits = 2000, 2000
	c := newFakeConn()
	var s *Session
	s = New(context.Background(), "s1", Config{MaxQueuedEvents: 64}, HandlerFunc(func(ctx context.Context, m *events.Message) {
		_ = s.Reply(m.ID, nil, nil)
	}))
	done := serve(s, c)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range emits {
			if err := s.Emit("e", fmt.Appendf(nil, "%d", i)); err != nil {
				t.Errorf("emit %d: %v", i, err)
				return
			}
			if i%50 == 0 {
				time.Sleep(time.Duration(i%7) * 20 * time.Millisecond / 7) // now and then past a linger
			}
		}
	})
	for i := range events_ {
		c.in <- fmt.Appendf(nil, `{"t":"ev","n":"a","id":%d}`, i+1)
		if i%100 == 0 {
			time.Sleep(time.Duration(i%3) * 60 * time.Millisecond)
		}
	}
	wg.Wait()
	acks, emitted := map[int]int{}, []int{}
	deadline := time.Now().Add(10 * time.Second)
	for len(acks) < events_ || len(emitted) < emits {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d of %d acks, %d of %d events", len(acks), events_, len(emitted), emits)
		}
		time.Sleep(10 * time.Millisecond)
		acks, emitted = map[int]int{}, emitted[:0]
		for _, f := range c.frames() {
			for _, line := range strings.Split(f, "\n") {
				var m struct {
					T  string `json:"t"`
					ID int    `json:"id"`
					D  int    `json:"d"`
				}
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("frame line %q: %v", line, err)
				}
				switch m.T {
				case "ack":
					acks[m.ID]++
				case "ev":
					emitted = append(emitted, m.D)
				}
			}
		}
	}
	for id, n := range acks {
		if n != 1 {
			t.Fatalf("ack %d written %d times", id, n)
		}
	}
	for i, d := range emitted {
		if d != i {
			t.Fatalf("event %d is %d: lost, repeated or out of order (%v...)", i, d, emitted[max(0, i-3):min(len(emitted), i+3)])
		}
	}
	s.Close(&events.CloseError{Code: events.CloseNormal})
	<-done
	s.Wait()
}

// The transport's context is not a child of the session's (Session.cancel): a session
// ended by New's parent still ends the transport it serves, at the next ping, with the
// parent's cause; one ended by Abort ends it at once.
func TestParentEndsTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithCancelCause(context.Background())
		c := newFakeConn()
		s := New(parent, "s1", Config{PingInterval: 10 * time.Second, PongTimeout: 5 * time.Second}, HandlerFunc(nop))
		start := time.Now()
		done := serve(s, c)
		synctest.Wait()
		gone := &events.CloseError{Code: events.CloseGoingAway, Reason: "shutting down"}
		cancel(gone)
		err := <-done
		if events.CloseCode(err) != events.CloseGoingAway {
			t.Fatalf("ended with %v, want 1001", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the transport ended %v after its parent, want within the first ping (10s)", d)
		}
		c.mu.Lock()
		code := c.closeCode
		c.mu.Unlock()
		if code != events.CloseGoingAway {
			t.Fatalf("conn closed with %d, want 1001", code)
		}

		c2 := newFakeConn()
		s2 := New(context.Background(), "s2", Config{PingInterval: 10 * time.Second, PongTimeout: 5 * time.Second}, HandlerFunc(nop))
		done = serve(s2, c2)
		synctest.Wait()
		start = time.Now()
		s2.Abort(&events.CloseError{Code: events.CloseNormal})
		if err := <-done; events.CloseCode(err) != events.CloseNormal || time.Since(start) != 0 {
			t.Fatalf("Abort ended the transport with %v after %v, want 1000 at once", err, time.Since(start))
		}
	})
}
