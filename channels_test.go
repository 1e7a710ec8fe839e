package sockhop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/rooms"
)

// subscribeCode subscribes c to room and returns the error ack's code ("" for success).
func subscribeCode(t *testing.T, c *client.Client, room string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, room)
	if err == nil {
		return ""
	}
	var e *events.ErrorBody
	if !errors.As(err, &e) {
		t.Fatalf("subscribe %q: %v, want an error ack", room, err)
	}
	if strings.Contains(e.Message, "secret") {
		t.Errorf("subscribe %q: the rule's own error reached the client: %v", room, e)
	}
	return e.Code
}

// TestSubscribeRefusedAndAllowed: a Channel's rule decides client subscriptions; its
// *Error passes to the client, another error or a panic is "forbidden" (the session goes
// on), a room under no Channel is refused, a bad room name is "bad_request", the room
// limit is "too_many_rooms"; a subscribed client gets the room's broadcasts until it
// unsubscribes.
func TestSubscribeRefusedAndAllowed(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		sessions := make(chan *sockhop.Session, 1)
		srv, url := echoServer(t, sockhop.Options{MaxRoomsPerSession: 2}, func(srv *sockhop.Server) {
			srv.Channel("private-", sockhop.Channel{Subscribe: func(ctx context.Context, s *sockhop.Session, room string) error {
				switch {
				case strings.HasPrefix(room, "private-ok"):
					return nil
				case room == "private-app":
					return &sockhop.Error{Code: "not_member", Message: "not a member"}
				case room == "private-boom":
					panic("boom")
				}
				return errors.New("a secret reason")
			}})
			srv.Channel("server-", sockhop.Channel{}) // no rule: server-side joins only
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
				sessions <- s
				return nil
			})
		})
		c := dialClient(t, url, tr, client.Options{})
		s := <-sessions
		news := collect(c, "news", 16)
		for room, want := range map[string]string{
			"private-ok":   "",
			"private-no":   sockhop.CodeForbidden,
			"private-app":  "not_member",
			"private-boom": sockhop.CodeForbidden,
			"server-x":     sockhop.CodeForbidden,
			"public":       sockhop.CodeForbidden,
			"":             sockhop.CodeBadRequest,
			"\x00users":    sockhop.CodeBadRequest,
		} {
			if got := subscribeCode(t, c, room); got != want {
				t.Errorf("subscribe %q: code %q, want %q", room, got, want)
			}
		}
		mustEcho(t, c) // the panic refused, and the session goes on
		if got := subscribeCode(t, c, "private-ok2"); got != "" {
			t.Fatalf("second room: %q", got)
		}
		if got := subscribeCode(t, c, "private-ok3"); got != sockhop.CodeTooManyRooms {
			t.Fatalf("third room past MaxRoomsPerSession 2: %q, want %q", got, sockhop.CodeTooManyRooms)
		}
		if rs := s.Rooms(); strings.Join(rs, ",") != "private-ok,private-ok2" {
			t.Fatalf("rooms %v", rs)
		}
		ctx := context.Background()
		if err := srv.To("private-ok").Emit(ctx, "news", 1); err != nil {
			t.Fatal(err)
		}
		if d := news.next(t); string(d) != "1" {
			t.Fatalf("news %s", d)
		}
		if err := c.Unsubscribe(ctx, "private-ok"); err != nil {
			t.Fatal(err)
		}
		if err := c.Unsubscribe(ctx, "private-never"); err != nil {
			t.Fatalf("unsubscribing a room the session is not in: %v", err)
		}
		var e *events.ErrorBody
		if err := c.Unsubscribe(ctx, "server-x"); !errors.As(err, &e) || e.Code != sockhop.CodeForbidden {
			t.Fatalf("unsubscribing a server-managed room: %v", err)
		}
		if err := srv.To("private-ok").Emit(ctx, "news", 2); err != nil {
			t.Fatal(err)
		}
		if err := s.Emit(ctx, "news", 3); err != nil { // after 2 on the wire, had 2 been sent
			t.Fatal(err)
		}
		if d := news.next(t); string(d) != "3" {
			t.Fatalf("got %s after unsubscribing, want 3", d)
		}
	})
}

// TestReservedEventNames: handlers cannot take the protocol's "$" names.
func TestReservedEventNames(t *testing.T) {
	srv, err := sockhop.New(sockhop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	defer func() {
		if recover() == nil {
			t.Fatal("On($sub) did not panic")
		}
	}()
	sockhop.On(srv, "$sub", func(ctx context.Context, s *sockhop.Session, v any) error { return nil })
}

// smallSendBuffers is a listener whose connections have a small socket send buffer, so
// that a client that stops reading backs the server's queue up at once instead of after
// megabytes of kernel buffers.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// TestVolatileDroppedForStalledClient: while a client does not read, volatile broadcasts
// (and Session.EmitVolatile) are dropped for it and default ones are kept: once it reads again it has every default
// one, in order, and not every volatile one.
func TestVolatileDroppedForStalledClient(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		sessions := make(chan *sockhop.Session, 1)
		srv, err := sockhop.New(sockhop.Options{MaxQueueBytes: 16 << 20})
		if err != nil {
			t.Fatal(err)
		}
		srv.Channel("cursor", sockhop.Channel{Class: sockhop.Volatile}) // its broadcasts: volatile
		srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
			sessions <- s
			if err := s.Join(ctx, "cursor"); err != nil {
				return err
			}
			return s.Join(ctx, "chat")
		})
		hs := httptest.NewUnstartedServer(nil)
		hs.Listener = smallSendBuffers{hs.Listener}
		url := serveAt(t, srv, hs)

		c := dialClient(t, url, tr, client.Options{})
		s := <-sessions
		checkVolatileStalled(t, c, srv.To("chat").Emit, func(i int) emitFunc {
			if i%2 == 1 {
				return s.EmitVolatile
			}
			return srv.To("cursor").Emit // volatile by its Channel
		})
	})
}

// emitFunc is Broadcast.Emit or Session.EmitVolatile.
type emitFunc func(ctx context.Context, name string, v any) error

// checkVolatileStalled stalls c (its handlers, then its reader, stop at a "stall" event),
// sends it 1,000 default "chat" messages with 1 KB of padding each through emit, and 1,000
// volatile "cursor" ones through volatile(i), then lets it read again: it must have every
// default message, in order, and not every volatile one (those in order). c is a member of
// the rooms both reach.
func checkVolatileStalled(t *testing.T, c *client.Client, emit emitFunc, volatile func(i int) emitFunc) {
	t.Helper()
	release := make(chan struct{})
	blocked := make(chan struct{})
	c.On("stall", func(ctx context.Context, data json.RawMessage) {
		close(blocked)
		<-release // the client's handlers, then its reader, stop
	})
	var mu sync.Mutex
	var chat, cursor []int
	done := make(chan struct{})
	record := func(into *[]int) func(context.Context, json.RawMessage) {
		return func(ctx context.Context, data json.RawMessage) {
			var n int
			_ = json.Unmarshal(data, &n)
			mu.Lock()
			*into = append(*into, n)
			mu.Unlock()
		}
	}
	c.On("chat", record(&chat))
	c.On("cursor", record(&cursor))
	c.On("end", func(ctx context.Context, data json.RawMessage) { close(done) })

	ctx := context.Background()
	if err := emit(ctx, "stall", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("no stall event within 10s")
	}
	const n = 1000
	pad := strings.Repeat("x", 1000)
	for i := range n {
		if err := emit(ctx, "chat", i); err != nil {
			t.Fatal(err)
		}
		if err := emit(ctx, "pad", pad); err != nil {
			t.Fatal(err)
		}
		if err := volatile(i)(ctx, "cursor", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := emit(ctx, "end", nil); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the client did not get the end within 60s")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, v := range chat {
		if v != i {
			t.Fatalf("default message %d is %d: lost or reordered", i, v)
		}
	}
	if len(chat) != n {
		t.Fatalf("%d of %d default messages", len(chat), n)
	}
	if len(cursor) >= n {
		t.Fatalf("every volatile message (%d) reached a stalled client", len(cursor))
	}
	for i := 1; i < len(cursor); i++ {
		if cursor[i] <= cursor[i-1] {
			t.Fatalf("volatile messages out of order: %v", cursor)
		}
	}
	t.Logf("%s: %d default kept, %d of %d volatile delivered", c.Transport(), len(chat), len(cursor), n)
}

// durableServer serves a Channel "news:" of durable rooms that every client may
// subscribe to, with history bounded to size messages; sessions come on the channel.
func durableServer(t *testing.T, size int, sessions chan<- *sockhop.Session) (*sockhop.Server, string) {
	return echoServer(t, sockhop.Options{}, func(srv *sockhop.Server) {
		srv.Channel("news:", sockhop.Channel{
			Subscribe:   func(ctx context.Context, s *sockhop.Session, room string) error { return nil },
			Class:       sockhop.Durable,
			HistorySize: size,
		})
		srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error {
			select {
			case sessions <- s:
			default:
			}
			return nil
		})
	})
}

// sequence records the numbers a client gets as event "news", in order.
type sequence struct {
	mu  sync.Mutex
	got []int
	ch  chan struct{} // a value per message
}

func recordNews(c *client.Client) *sequence {
	q := &sequence{ch: make(chan struct{}, 10000)}
	c.On("news", func(ctx context.Context, data json.RawMessage) {
		var n int
		_ = json.Unmarshal(data, &n)
		q.mu.Lock()
		q.got = append(q.got, n)
		q.mu.Unlock()
		q.ch <- struct{}{}
	})
	return q
}

// waitFor waits until the client got n messages.
func (q *sequence) waitFor(t *testing.T, n int) []int {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		q.mu.Lock()
		got := append([]int(nil), q.got...)
		q.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-q.ch:
		case <-deadline:
			t.Fatalf("%d of %d messages within 20s: %v", len(got), n, got)
		}
	}
}

// mustRun checks that got is from..to, each once, in order: nothing lost, nothing twice.
func mustRun(t *testing.T, got []int, from, to int) {
	t.Helper()
	lost, dup := 0, 0
	seen := map[int]int{}
	for _, n := range got {
		seen[n]++
	}
	for n := from; n <= to; n++ {
		if seen[n] == 0 {
			lost++
		}
	}
	for _, k := range seen {
		dup += k - 1
	}
	if lost != 0 || dup != 0 || len(got) != to-from+1 {
		t.Fatalf("got %v, want %d..%d: %d lost, %d duplicated", got, from, to, lost, dup)
	}
	for i, n := range got {
		if n != from+i {
			t.Fatalf("got %v, want %d..%d in order", got, from, to)
		}
	}
}

func publishNews(t *testing.T, srv *sockhop.Server, room string, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := srv.To(room).Emit(context.Background(), "news", n); err != nil {
			t.Errorf("emit %d: %v", n, err)
			return
		}
	}
}

// TestDurableCatchUpNewProcess: a client that saved its positions and is gone (its
// session ended) comes back as a new client with them, subscribes while messages keep
// coming, and gets every message after its position once, in order, told recovered.
func TestDurableCatchUpNewProcess(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		srv, url := durableServer(t, 1000, make(chan *sockhop.Session, 1))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const room = "news:1"

		a := dialClient(t, url, tr, client.Options{})
		qa := recordNews(a)
		res, err := a.Subscribe(ctx, room)
		if err != nil || res.Pos == nil || res.Recovered {
			t.Fatalf("first subscribe: %+v %v", res, err)
		}
		publishNews(t, srv, room, 1, 5)
		mustRun(t, qa.waitFor(t, 5), 1, 5)
		saved := a.Positions()
		if p := saved[room]; p.Offset != 5 || p.Epoch == "" {
			t.Fatalf("positions %v, want offset 5", saved)
		}
		_ = a.Close()

		publishNews(t, srv, room, 6, 15) // while no client is there
		b := dialClient(t, url, tr, client.Options{Positions: saved})
		qb := recordNews(b)
		var wg sync.WaitGroup
		wg.Go(func() { publishNews(t, srv, room, 16, 60) }) // races the catch-up
		res, err = b.Subscribe(ctx, room)
		wg.Wait()
		if err != nil || !res.Recovered || res.Pos == nil || res.Pos.Epoch != saved[room].Epoch {
			t.Fatalf("subscribe with saved positions: %+v %v", res, err)
		}
		mustEcho(t, b)
		mustRun(t, qb.waitFor(t, 55), 6, 60)
		if p := b.Positions()[room]; p.Offset != 60 {
			t.Fatalf("position %+v after 60", p)
		}
	})
}

// TestDurableCatchUpAfterServerEndedSession: the server ends a client's session (a
// close it reconnects after, so no resume); the client subscribes again by itself from
// its position on the new session, reports recovered, and gets what was published
// meanwhile once.
func TestDurableCatchUpAfterServerEndedSession(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		sessions := make(chan *sockhop.Session, 1)
		srv, url := durableServer(t, 1000, sessions)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const room = "news:2"

		c := client.New(url, client.Options{Transports: []string{tr}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		q := recordNews(c)
		results := make(chan client.SubscribeResult, 4)
		c.OnSubscribe(func(res client.SubscribeResult, err error) {
			if err != nil {
				t.Errorf("automatic subscribe: %v", err)
			}
			results <- res
		})
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		s := <-sessions
		if _, err := c.Subscribe(ctx, room); err != nil {
			t.Fatal(err)
		}
		publishNews(t, srv, room, 1, 10)
		mustRun(t, q.waitFor(t, 10), 1, 10)

		s.Close(4100, "go away and come back") // a reconnect code: a new session follows
		select {
		case <-s.Context().Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the session did not end within 10s of its Close")
		}
		publishNews(t, srv, room, 11, 30) // before the new session subscribes
		var res client.SubscribeResult
		select {
		case res = <-results:
		case <-time.After(20 * time.Second):
			t.Fatal("no automatic subscription within 20s")
		}
		if !res.Recovered || res.Room != room {
			t.Fatalf("automatic subscription %+v, want recovered", res)
		}
		if s2 := <-sessions; s2.ID() == s.ID() {
			t.Fatal("the session was resumed, not new")
		}
		publishNews(t, srv, room, 31, 40)
		mustRun(t, q.waitFor(t, 40), 1, 40)
	})
}

// TestDurableCatchUpTrimmed: a client whose position is older than the room's history
// gets the messages the history still has, once, and is told recovered:false.
func TestDurableCatchUpTrimmed(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		srv, url := durableServer(t, 5, make(chan *sockhop.Session, 1))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const room = "news:3"

		a := dialClient(t, url, tr, client.Options{})
		qa := recordNews(a)
		if _, err := a.Subscribe(ctx, room); err != nil {
			t.Fatal(err)
		}
		publishNews(t, srv, room, 1, 2)
		mustRun(t, qa.waitFor(t, 2), 1, 2)
		saved := a.Positions()
		_ = a.Close()

		publishNews(t, srv, room, 3, 20) // the history keeps 16..20
		b := dialClient(t, url, tr, client.Options{Positions: saved})
		qb := recordNews(b)
		res, err := b.Subscribe(ctx, room)
		if err != nil || res.Recovered || res.Pos == nil || res.Pos.Offset != 20 {
			t.Fatalf("subscribe after the history was trimmed: %+v %v, want recovered false at 20", res, err)
		}
		publishNews(t, srv, room, 21, 22)
		mustRun(t, qb.waitFor(t, 7), 16, 22)
	})
}

// lineConn reads a raw connection line by line, as the server wrote them.
type lineConn struct {
	*rawConn
	pending []string // lines of a frame read and not returned yet
}

// nextLine returns the next message line that contains want, skipping the others (pings,
// other events).
func (c *lineConn) nextLine(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for len(c.pending) > 0 {
			l := c.pending[0]
			c.pending = c.pending[1:]
			if strings.Contains(l, want) {
				return l
			}
		}
		frame, err := c.readFrame(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		_ = events.Lines(frame, func(l []byte) error {
			c.pending = append(c.pending, string(l))
			return nil
		})
	}
	t.Fatalf("no %s within 10s", want)
	return ""
}

// readFrame reads a frame, failing after d.
func (c *lineConn) readFrame(d time.Duration) ([]byte, error) {
	type res struct {
		frame []byte
		err   error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := c.ReadFrame()
		ch <- res{f, err}
	}()
	select {
	case r := <-ch:
		return r.frame, r.err
	case <-time.After(d):
		return nil, errors.New("timed out")
	}
}

// TestChannelsWireAcrossNodes pins the wire forms of PROTOCOL.md §9 on two nodes sharing
// a broker and a history: $sub's ack with and without since, a durable broadcast from the
// other node with its room and position, a catch-up entry before the ack, and a volatile
// broadcast that crossed the broker without its mark.
func TestChannelsWireAcrossNodes(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		bus := rooms.NewMemoryBus()
		hist := rooms.NewMemoryHistory()
		ch := sockhop.Channel{
			Subscribe: func(ctx context.Context, s *sockhop.Session, room string) error { return nil },
			Class:     sockhop.Durable,
		}
		a, urlA := clusterNode(t, bus.Adapter(), sockhop.Options{History: hist})
		b, urlB := clusterNode(t, bus.Adapter(), sockhop.Options{History: hist})
		a.Channel("news:", ch)
		b.Channel("news:", ch)
		ctx := context.Background()

		c := &lineConn{rawConn: dialRaw(t, urlB, tr, nil)}
		c.handshake()
		c.send(`{"t":"ev","n":"$sub","id":1,"d":{"room":"news:x"}}`)
		if got, want := c.nextLine(t, `"t":"ack"`), `{"t":"ack","id":1,"d":{"room":"news:x","pos":{"e":"","o":0}}}`; got != want {
			t.Fatalf("ack of a subscription to a room without history:\n%s\nwant\n%s", got, want)
		}
		waitFor(t, "B's member in A's view", func() error {
			if n, err := a.Count(ctx, "news:x"); err != nil || n != 1 {
				return fmt.Errorf("count %d %v", n, err)
			}
			return nil
		})
		if err := a.To("news:x").Emit(ctx, "news", "one"); err != nil {
			t.Fatal(err)
		}
		line := c.nextLine(t, `"n":"news"`)
		var m struct {
			Room string
			Pos  client.Position
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Room != "news:x" || m.Pos.Epoch == "" || m.Pos.Offset != 1 {
			t.Fatalf("durable broadcast %s", line)
		}
		epoch := m.Pos.Epoch
		if want := `{"t":"ev","n":"news","d":"one","room":"news:x","pos":{"e":"` + epoch + `","o":1}}`; line != want {
			t.Fatalf("durable broadcast\n%s\nwant\n%s", line, want)
		}
		if err := a.To("news:x").Class(sockhop.Volatile).Emit(ctx, "typing", "ann"); err != nil {
			t.Fatal(err)
		}
		if got, want := c.nextLine(t, `"n":"typing"`), `{"t":"ev","n":"typing","d":"ann"}`; got != want {
			t.Fatalf("volatile broadcast from the other node\n%s\nwant\n%s", got, want)
		}

		// A catch-up on A from before the first message: the entry, then the ack.
		d := &lineConn{rawConn: dialRaw(t, urlA, tr, nil)}
		d.handshake()
		d.send(`{"t":"ev","n":"$sub","id":1,"d":{"room":"news:x","since":{"e":"` + epoch + `","o":0}}}`)
		if got, want := d.nextLine(t, `"t":"ev"`), `{"t":"ev","n":"news","d":"one","room":"news:x","pos":{"e":"`+epoch+`","o":1}}`; got != want {
			t.Fatalf("catch-up entry\n%s\nwant\n%s", got, want)
		}
		if got, want := d.nextLine(t, `"t":"ack"`), `{"t":"ack","id":1,"d":{"room":"news:x","recovered":true,"pos":{"e":"`+epoch+`","o":1}}}`; got != want {
			t.Fatalf("catch-up ack\n%s\nwant\n%s", got, want)
		}
		d.send(`{"t":"ev","n":"$unsub","id":2,"d":{"room":"news:x"}}`)
		if got, want := d.nextLine(t, `"t":"ack"`), `{"t":"ack","id":2,"d":{"room":"news:x"}}`; got != want {
			t.Fatalf("unsubscribe ack\n%s\nwant\n%s", got, want)
		}
		d.send(`{"t":"ev","n":"$nope","id":3}`)
		if got := d.nextLine(t, `"t":"ack"`); !strings.Contains(got, `"code":"unknown_event"`) {
			t.Fatalf("unknown $ event: %s", got)
		}
	})
}

// TestDurableEmitErrors: a durable broadcast to several rooms is refused with
// ErrDurableRooms, and one its history cannot keep is not delivered at all.
func TestDurableEmitErrors(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		hist := &failingHistory{History: rooms.NewMemoryHistory()}
		srv, url := echoServer(t, sockhop.Options{History: hist}, func(srv *sockhop.Server) {
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "r") })
		})
		c := dialClient(t, url, tr, client.Options{})
		got := collect(c, "n", 4)
		ctx := context.Background()
		if err := srv.To("r", "s").Class(sockhop.Durable).Emit(ctx, "n", 1); !errors.Is(err, sockhop.ErrDurableRooms) {
			t.Fatalf("durable to two rooms: %v", err)
		}
		hist.fail.Store(true)
		if err := srv.To("r").Class(sockhop.Durable).Emit(ctx, "n", 2); err == nil || !strings.Contains(err.Error(), "history down") {
			t.Fatalf("durable with the history down: %v", err)
		}
		hist.fail.Store(false)
		if err := srv.To("r").Class(sockhop.Durable).Emit(ctx, "n", 3); err != nil {
			t.Fatal(err)
		}
		if d := got.next(t); string(d) != "3" {
			t.Fatalf("got %s, want 3 (2 was not kept, so not sent)", d)
		}
	})
}

// failingHistory is a History whose Append fails while fail is set.
type failingHistory struct {
	rooms.History
	fail atomic.Bool
}

func (h *failingHistory) Append(ctx context.Context, room string, data []byte, opts rooms.HistoryOptions) (rooms.Position, error) {
	if h.fail.Load() {
		return rooms.Position{}, errors.New("history down")
	}
	return h.History.Append(ctx, room, data, opts)
}

// TestDurableConcurrentEmits: durable broadcasts emitted at once from many goroutines to
// one room reach a subscriber in the order of their offsets, so none is dropped as old.
func TestDurableConcurrentEmits(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		srv, url := durableServer(t, 1000, make(chan *sockhop.Session, 1))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const room, workers, each = "news:4", 8, 50
		c := dialClient(t, url, tr, client.Options{})
		q := recordNews(c)
		if _, err := c.Subscribe(ctx, room); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { publishNews(t, srv, room, w*each+1, (w+1)*each) })
		}
		wg.Wait()
		got := q.waitFor(t, workers*each) // fails after 20s when one was dropped
		seen := map[int]bool{}
		for _, n := range got {
			seen[n] = true
		}
		if len(got) != workers*each || len(seen) != workers*each {
			t.Fatalf("%d messages (%d different) of %d", len(got), len(seen), workers*each)
		}
		if p := c.Positions()[room]; p.Offset != workers*each {
			t.Fatalf("position %+v, want offset %d", p, workers*each)
		}
	})
}
