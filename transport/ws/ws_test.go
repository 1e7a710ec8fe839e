package ws

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// pair upgrades one connection and returns the server's Conn and the client's.
func pair(t *testing.T) (*Conn, *websocket.Conn) {
	t.Helper()
	up := NewUpgrader(Options{MaxMessageSize: 1 << 16, WriteTimeout: 5 * time.Second, CheckOrigin: func(*http.Request) bool { return true }})
	conns := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, false)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	cc, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := <-conns
	t.Cleanup(func() { c.Close(1000, "") })
	return c, cc
}

// waited returns f for WaitRead and the channel it signals on.
func waited() (func(), chan struct{}) {
	ch := make(chan struct{}, 1)
	return func() { ch <- struct{}{} }, ch
}

func fired(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// notFired reports whether ch stayed quiet for a moment (a poller that fired without
// bytes would have fired by then: readiness is reported at once).
func notFired(ch chan struct{}) bool {
	select {
	case <-ch:
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

func TestWaitReadFiresOnBytes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the read poller is Linux's (epoll); elsewhere WaitRead returns false")
	}
	c, cc := pair(t)
	for i := range 3 { // armed again after each frame
		f, ch := waited()
		if !c.WaitRead(f) {
			t.Fatal("WaitRead on an idle connection returned false")
		}
		if !notFired(ch) {
			t.Fatal("fired with no bytes")
		}
		msg := strings.Repeat("x", i*300) // past the 512-byte read buffer too
		if err := cc.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if !fired(ch) {
			t.Fatal("not fired when a frame arrived")
		}
		got, err := c.ReadFrame()
		if err != nil || string(got) != msg {
			t.Fatalf("read %q, %v; want %q", got, err, msg)
		}
	}
}

func TestWaitReadBuffered(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the read poller is Linux's (epoll)")
	}
	c, cc := pair(t)
	// Two frames in one TCP write: the first read buffers the second.
	nc := cc.NetConn()
	frame := func(s string) []byte { // a masked client text frame
		b := []byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}
		return append(b, s...)
	}
	if _, err := nc.Write(append(frame("one"), frame("two")...)); err != nil {
		t.Fatal(err)
	}
	// The first wait does not linger: bytes already waiting in the socket fire the
	// poller at once.
	f, ch := waited()
	if !c.WaitRead(f) {
		t.Fatal("the first WaitRead lingered: it returned false")
	}
	if !fired(ch) {
		t.Fatal("not fired although bytes were waiting in the socket")
	}
	if got, err := c.ReadFrame(); err != nil || string(got) != "one" {
		t.Fatalf("read %q, %v", got, err)
	}
	if c.WaitRead(func() { t.Error("called although WaitRead returned false") }) {
		t.Fatal("WaitRead returned true with a frame buffered")
	}
	if got, err := c.ReadFrame(); err != nil || string(got) != "two" {
		t.Fatalf("read %q, %v", got, err)
	}
	// Later waits linger: a frame that comes within the linger is read on the same
	// goroutine.
	go func() {
		time.Sleep(readLinger / 5)
		_, _ = nc.Write(frame("three"))
	}()
	if c.WaitRead(func() { t.Error("called although WaitRead returned false") }) {
		t.Fatal("WaitRead returned true for a frame that came within its linger")
	}
	if got, err := c.ReadFrame(); err != nil || string(got) != "three" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestWaitReadClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the read poller is Linux's (epoll)")
	}
	t.Run("Close", func(t *testing.T) {
		c, _ := pair(t)
		f, ch := waited()
		if !c.WaitRead(f) {
			t.Fatal("WaitRead returned false")
		}
		c.Close(1000, "bye")
		if !fired(ch) {
			t.Fatal("Close did not wake the waiting reader")
		}
		if _, err := c.ReadFrame(); err == nil {
			t.Fatal("read after Close succeeded")
		}
		if c.WaitRead(func() {}) {
			t.Fatal("WaitRead after Close returned true")
		}
	})
	t.Run("PeerHangsUp", func(t *testing.T) {
		c, cc := pair(t)
		f, ch := waited()
		if !c.WaitRead(f) {
			t.Fatal("WaitRead returned false")
		}
		cc.NetConn().(*net.TCPConn).Close()
		if !fired(ch) {
			t.Fatal("the peer's hang-up did not wake the waiting reader")
		}
		if _, err := c.ReadFrame(); err == nil {
			t.Fatal("read after the hang-up succeeded")
		}
	})
}

// TestBinaryKept: a binary message's bytes stay as read after the next read (events.DecodeBinary
// keeps them), while a text message's buffer is reused.
func TestBinaryKept(t *testing.T) {
	c, cc := pair(t)
	if err := cc.WriteMessage(websocket.BinaryMessage, []byte("binary one")); err != nil {
		t.Fatal(err)
	}
	if err := cc.WriteMessage(websocket.TextMessage, []byte("text two!!")); err != nil {
		t.Fatal(err)
	}
	b, bin, err := c.ReadMessage()
	if err != nil || !bin {
		t.Fatalf("read %q, %v, %v", b, bin, err)
	}
	txt, bin, err := c.ReadMessage()
	if err != nil || bin || string(txt) != "text two!!" {
		t.Fatalf("read %q, %v, %v", txt, bin, err)
	}
	if string(b) != "binary one" {
		t.Fatalf("the binary message changed to %q after the next read", b)
	}
}

// TestWaitReadLingerEnds: a lingering wait that sees no bytes ends after readLinger (the
// sweeper's deadline in the past), hands the connection to the poller, and leaves it
// whole: the next frame fires the poller and reads intact, and a later wait lingers again.
func TestWaitReadLingerEnds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the read poller is Linux's (epoll)")
	}
	c, cc := pair(t)
	send := func(msg string) {
		t.Helper()
		if err := cc.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(want string) {
		t.Helper()
		if got, err := c.ReadFrame(); err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	f, ch := waited()
	if !c.WaitRead(f) { // the first wait goes to the poller at once
		t.Fatal("the first WaitRead returned false")
	}
	send("one")
	if !fired(ch) {
		t.Fatal("not fired")
	}
	read("one")
	for i := range 3 {
		start := time.Now()
		f, ch := waited()
		if !c.WaitRead(f) {
			t.Fatalf("wait %d: WaitRead returned false with no bytes coming", i)
		}
		if d := time.Since(start); d < readLinger {
			t.Fatalf("wait %d: the linger ended after %v, before readLinger", i, d)
		}
		msg := strings.Repeat("x", 100+i*400) // past the 512-byte read buffer too
		send(msg)
		if !fired(ch) {
			t.Fatalf("wait %d: not fired when a frame arrived after the linger", i)
		}
		read(msg)
		// Within a linger, the reader keeps the connection.
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			time.Sleep(readLinger / 5)
			if err := cc.WriteMessage(websocket.TextMessage, []byte("again")); err != nil {
				t.Error(err)
			}
		}()
		if c.WaitRead(func() { t.Error("called although WaitRead returned false") }) {
			t.Fatalf("wait %d: a frame within the linger went to the poller", i)
		}
		read("again")
		<-sent // the client's writer is this goroutine's again
	}
	c.Close(1000, "")
	sweeping.mu.Lock()
	_, kept := sweeping.conns[c]
	sweeping.mu.Unlock()
	if kept {
		t.Fatal("a closed connection is still swept")
	}
}
