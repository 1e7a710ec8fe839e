// Package ws is sockhop's native WebSocket transport on gorilla/websocket: the upgrade, a
// read limit, UTF-8 and frame-type checks, and writes bounded by a deadline.
//
// # Concurrency
//
// A [Conn] has one reader and one writer; Close may be called from any goroutine.
package ws

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// Subprotocol is the WebSocket subprotocol of sockhop protocol version 1.
const Subprotocol = events.Subprotocol

// Options configure an [Upgrader].
type Options struct {
	// MaxMessageSize is the largest frame read, in bytes; a larger one closes with 1009.
	MaxMessageSize int64
	// WriteTimeout bounds every write.
	WriteTimeout time.Duration
	// CheckOrigin reports whether the request's Origin is allowed; it must not be nil.
	CheckOrigin func(r *http.Request) bool
}

// Upgrader upgrades HTTP requests to sockhop WebSocket connections.
type Upgrader struct {
	opts Options
	up   websocket.Upgrader
}

// writeBufferPool shares write buffers between connections: an idle connection holds none.
var writeBufferPool = &sync.Pool{}

// NewUpgrader returns an Upgrader for opts.
func NewUpgrader(opts Options) *Upgrader {
	u := &Upgrader{opts: opts}
	u.up = websocket.Upgrader{
		HandshakeTimeout:  10 * time.Second,
		ReadBufferSize:    0, // Upgrade hands gorilla a reader of readBufferSize (see hijacker)
		WriteBufferSize:   4096,
		WriteBufferPool:   writeBufferPool,
		Subprotocols:      nil, // chosen by Upgrade: see protocol
		CheckOrigin:       opts.CheckOrigin,
		EnableCompression: false,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			http.Error(w, "sockhop: websocket: "+reason.Error(), status)
		},
	}
	return u
}

// Upgrade upgrades the request. On failure it has already answered the request.
//
// With hold, when the request carried the hello ([Conn.Hello]), the 101 waits for the
// Conn's first frame and both go in one system call: the caller must then write that frame
// (the welcome, or a refusal) without waiting on anything, for the client waits for the 101.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, hold bool) (*Conn, error) {
	answer, hello := protocol(r.Header)
	h := &hijacker{ResponseWriter: w, cork: hold && hello != "", slack: u.opts.WriteTimeout / deadlineSlack}
	c, err := u.up.Upgrade(h, r, answer)
	if err != nil {
		return nil, fmt.Errorf("sockhop: websocket upgrade: %w", err)
	}
	c.SetReadLimit(u.opts.MaxMessageSize)
	return &Conn{c: c, br: h.br, poll: newPollConn(h.conn), hello: hello, writeTimeout: u.opts.WriteTimeout}, nil
}

// v1Answer answers an upgrade that offered Subprotocol (gorilla only reads it).
var v1Answer = http.Header{"Sec-Websocket-Protocol": {Subprotocol}}

// helloAnswers answer the hello subprotocols without a ping, the bundled clients' first.
var helloAnswers = func() map[string]http.Header {
	m := map[string]http.Header{}
	for _, bin := range []bool{false, true} {
		p := events.HelloProtocol(bin, 0)
		m[p] = http.Header{"Sec-Websocket-Protocol": {p}}
	}
	return m
}()

// protocol chooses the subprotocol of the answer among those the request offers: the
// first that carries a hello ([events.ParseHelloProtocol]; it is returned too), else
// Subprotocol when offered, else none (nil).
func protocol(h http.Header) (answer http.Header, hello string) {
	v1 := false
	for _, v := range h["Sec-Websocket-Protocol"] {
		for v != "" {
			var p string
			p, v, _ = strings.Cut(v, ",")
			p = strings.TrimSpace(p)
			if _, ok := events.ParseHelloProtocol(p); ok {
				if a := helloAnswers[p]; a != nil {
					return a, p
				}
				return http.Header{"Sec-Websocket-Protocol": {p}}, p
			}
			v1 = v1 || p == Subprotocol
		}
	}
	if v1 {
		return v1Answer, ""
	}
	return nil, ""
}

// readBufferSize is the read buffer a connection keeps for its life (gorilla's default is
// 4 KiB, net/http's reader's size): frames larger than it are read past it.
const readBufferSize = 512

// hijacker hands gorilla a read buffer of readBufferSize that the Conn can look into
// (WaitRead must know whether bytes are buffered), instead of net/http's.
type hijacker struct {
	http.ResponseWriter
	cork  bool          // hold the 101 for the first frame (see writeConn)
	slack time.Duration // see writeConn.SetWriteDeadline
	conn  net.Conn
	br    *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = c
	if brw.Reader.Buffered() > 0 { // gorilla refuses it: the client did not wait for the 101
		return c, brw, nil
	}
	h.br = bufio.NewReaderSize(c, readBufferSize) // reads bypass writeConn
	var wc net.Conn = c
	if tc, ok := c.(*net.TCPConn); ok {
		wc = &writeConn{TCPConn: tc, started: !h.cork, slack: h.slack}
	}
	return wc, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// deadlineSlack: a write's deadline may come up to its timeout ÷ deadlineSlack late
// (see writeConn.SetWriteDeadline).
const deadlineSlack = 8

// writeConn is the connection gorilla writes to, on plain TCP. Gorilla serializes its
// writes and their deadlines. Embedding *net.TCPConn keeps its vectored writes
// (net.Buffers, for a message past the write buffer), which bypass Write.
//
// When the 101 is to go out with the frame after it (cork), it holds its first write (the
// 101) and sends it with the second: the frame after the 101 is the welcome or a close,
// both within the write buffer, so they come through Write.
type writeConn struct {
	*net.TCPConn
	started bool   // the 101 came
	held    []byte // the 101, until the next write

	slack    time.Duration
	deadline time.Time // the socket's write deadline
}

// SetWriteDeadline gives the socket the deadline t, or one up to slack later: it leaves
// the socket's when that is within [t, t+slack], and otherwise sets t+slack. Gorilla sets
// a deadline before every frame, each a little later than the last; each setting
// reschedules the runtime's timer (2-3 % of the echo benchmark's CPU), and now only one
// frame per slack does.
func (c *writeConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() && !c.deadline.IsZero() && !c.deadline.Before(t) && c.deadline.Sub(t) <= c.slack {
		return nil
	}
	if !t.IsZero() {
		t = t.Add(c.slack)
	}
	c.deadline = t
	return c.TCPConn.SetWriteDeadline(t)
}

func (c *writeConn) Write(p []byte) (int, error) {
	if !c.started {
		c.started, c.held = true, bytes.Clone(p)
		return len(p), nil
	}
	if c.held == nil {
		return c.TCPConn.Write(p)
	}
	held := len(c.held)
	bufs := net.Buffers{c.held, p}
	c.held = nil
	n, err := bufs.WriteTo(c.TCPConn) // one writev
	return max(0, int(n)-held), err
}

// Conn is an upgraded WebSocket connection; it implements [transport.Conn].
type Conn struct {
	transport.Peer
	c            *websocket.Conn
	br           *bufio.Reader // c's read buffer
	rbuf         []byte        // the last text message read, reused for the next; reader's
	poll         *pollConn     // nil: no poller (not Linux, or TLS)
	waited       bool          // WaitRead was called before; reader's
	hello        string        // the hello subprotocol the upgrade carried, until Hello takes it
	writeTimeout time.Duration
	closeOnce    sync.Once

	// A lingering wait (see await and the sweeper).
	swept  atomic.Bool  // in sweeping.conns; only the reader changes it
	since  atomic.Int64 // sweeping.tick when the current wait began
	wstate atomic.Int32 // waitNone, waitOn or waitEnded
	wmu    sync.Mutex   // orders the sweeper's deadline before the reader's clearing it
}

// Wait states of a lingering reader.
const (
	waitNone  = iota // not waiting
	waitOn           // in await's read
	waitEnded        // the sweeper ended the wait: the read has a deadline in the past
)

// Hello returns the hello that the upgrade request carried in its subprotocol
// (PROTOCOL.md §3), once: false when it carried none, and the hello is a message to read.
func (c *Conn) Hello() (events.Message, bool) {
	p := c.hello
	c.hello = ""
	return events.ParseHelloProtocol(p) // false for "": no hello carried
}

var (
	_ transport.Conn         = (*Conn)(nil)
	_ transport.BinaryFramer = (*Conn)(nil)
	_ transport.ReadWaiter   = (*Conn)(nil)
)

// WaitRead calls f, on a goroutine of its own, when the next frame's bytes arrive, the
// peer hangs up or Close is called; false when bytes are buffered already or there is no
// poller (see [transport.ReadWaiter]).
//
// It first waits up to readLinger (to 1.5 of it, see await) on the caller's goroutine: a
// busy connection keeps its reader (and its grown stack) instead of handing over to the
// poller for every frame. The first wait, after the hello, goes to the poller at once: a
// new session is silent until its client has read the welcome, and most stay silent
// longer.
func (c *Conn) WaitRead(f func()) bool {
	if c.poll == nil || c.br == nil || c.br.Buffered() > 0 {
		return false
	}
	if c.waited && c.await() {
		return false
	}
	c.waited = true
	c.rbuf = nil // an idle connection keeps no message buffer
	return c.poll.arm(f)
}

// await waits up to readLinger (to 1.5 of it) for bytes, read into the read buffer, and
// reports whether some came or the read failed (the next read says how); false when the
// wait ended: the caller hands the connection to the poller.
//
// The wait is bounded without a deadline of its own: setting one before the read and
// clearing it after took two runtime timer changes per frame read. The reader marks the
// wait instead, and the sweeper ends the waits that have lasted readLinger by setting a
// deadline in the past. A timed-out read leaves the buffer and gorilla's state as they
// were, and the deadline is gone before gorilla reads.
func (c *Conn) await() bool {
	if !c.swept.Load() {
		c.swept.Store(true)
		sweeping.add(c)
	}
	c.since.Store(sweeping.tick.Load())
	c.wstate.Store(waitOn)
	_, err := c.br.Peek(1)
	if !c.wstate.CompareAndSwap(waitOn, waitNone) { // the sweeper ended the wait
		c.wmu.Lock() // its deadline is set by now
		c.wstate.Store(waitNone)
		derr := c.c.NetConn().SetReadDeadline(time.Time{})
		c.wmu.Unlock()
		if derr != nil {
			return true
		}
	}
	if err != nil { // the wait ended, or the connection did
		c.swept.Store(false)
		sweeping.remove(c)
		return !errors.Is(err, os.ErrDeadlineExceeded)
	}
	return true
}

// readLinger is how long a reader waits for the next frame before it ends and leaves the
// wait to the poller.
const readLinger = 100 * time.Millisecond

// sweeper ends the lingering waits that have lasted readLinger. Its goroutine runs while
// some connection is swept (a reader that lingered and has not yet handed over to the
// poller, or been closed), ticking every readLinger/2: a wait that began lingerTicks
// ticks ago or more (after the tick before those) has lasted readLinger to 1.5 of it.
type sweeper struct {
	tick    atomic.Int64 // ticks so far
	mu      sync.Mutex
	conns   map[*Conn]struct{} // guarded by mu
	running bool               // guarded by mu
}

var sweeping = &sweeper{conns: make(map[*Conn]struct{})}

const lingerTicks = 3

func (s *sweeper) add(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	if !s.running {
		s.running = true
		go s.run()
	}
}

func (s *sweeper) remove(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// pastDeadline ends a read at once.
var pastDeadline = time.Unix(1, 0)

func (s *sweeper) run() {
	t := time.NewTicker(readLinger / 2)
	defer t.Stop()
	var late []*Conn
	for range t.C {
		now := s.tick.Add(1)
		s.mu.Lock()
		if len(s.conns) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		for c := range s.conns {
			if c.wstate.Load() == waitOn && now-c.since.Load() >= lingerTicks {
				late = append(late, c)
			}
		}
		s.mu.Unlock()
		for _, c := range late {
			c.wmu.Lock()
			// The reader may have begun another wait since: then it is young, and a wait
			// ended early only hands the connection to the poller sooner.
			if now-c.since.Load() >= lingerTicks && c.wstate.CompareAndSwap(waitOn, waitEnded) {
				_ = c.c.NetConn().SetReadDeadline(pastDeadline)
			}
			c.wmu.Unlock()
		}
		clear(late)
		late = late[:0]
	}
}

// Name returns transport.WebSocket.
func (c *Conn) Name() string { return transport.WebSocket }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// ReadFrame reads the next text message; a binary one closes with 1003 (the hello, which
// is read so, is text).
func (c *Conn) ReadFrame() ([]byte, error) {
	p, bin, err := c.ReadMessage()
	if err == nil && bin {
		return nil, &events.CloseError{Code: events.CloseUnsupportedData, Reason: "binary frame before the hello"}
	}
	return p, err
}

// ReadMessage reads the next message, text or binary (one binary message, PROTOCOL.md §2).
// The read limit counts a binary message's header and bytes.
func (c *Conn) ReadMessage() ([]byte, bool, error) {
	typ, p, err := c.read()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			return nil, false, &events.CloseError{Code: events.CloseTooBig, Reason: "message too big"}
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, false, &events.CloseError{Code: ce.Code, Reason: ce.Text}
		}
		return nil, false, err
	}
	if typ == websocket.BinaryMessage {
		return bytes.Clone(p), true, nil // a binary message's bytes are kept (events.DecodeBinary)
	}
	if !events.ValidUTF8(p) {
		return nil, false, &events.CloseError{Code: events.CloseInvalidPayload, Reason: "invalid UTF-8"}
	}
	return p, false, nil
}

// keepReadBytes is the largest message buffer a Conn keeps for the next message while
// it is busy (an idle one keeps none: see WaitRead).
const keepReadBytes = 4096

// read reads the next message into the Conn's message buffer: a text message's bytes are
// valid until the next read (the session decodes, and copies out, each line before it
// reads again).
func (c *Conn) read() (int, []byte, error) {
	typ, r, err := c.c.NextReader()
	if err != nil {
		return 0, nil, err
	}
	buf := c.rbuf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, nil, err
		}
	}
	if cap(buf) <= keepReadBytes {
		c.rbuf = buf
	} else {
		c.rbuf = nil
	}
	return typ, buf, nil
}

// WriteBinary writes msg as one binary message.
func (c *Conn) WriteBinary(msg []byte) error {
	if err := c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	return c.c.WriteMessage(websocket.BinaryMessage, msg)
}

// WriteFrame writes msgs as one text message.
func (c *Conn) WriteFrame(msgs [][]byte) error {
	if err := c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	if len(msgs) == 1 { // gorilla's WriteMessage keeps its message writer on the stack
		return c.c.WriteMessage(websocket.TextMessage, msgs[0])
	}
	w, err := c.c.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if i > 0 {
			if _, err := w.Write(nl); err != nil {
				return err
			}
		}
		if _, err := w.Write(m); err != nil {
			return err
		}
	}
	return w.Close()
}

var nl = []byte{'\n'}

// Close sends a close frame with code and reason (bounded by the write timeout, best
// effort) and closes the connection.
func (c *Conn) Close(code int, reason string) error {
	err := transport.ErrClosed
	c.closeOnce.Do(func() {
		if len(reason) > 120 { // a close frame's payload is at most 125 bytes
			reason = reason[:120]
		}
		msg := websocket.FormatCloseMessage(code, reason)
		if code == events.CloseNoStatus || code == events.CloseAbnormal {
			msg = websocket.FormatCloseMessage(events.CloseInternalError, reason)
		}
		_ = c.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(min(c.writeTimeout, time.Second)))
		if c.poll != nil {
			c.poll.close() // before the descriptor is closed and perhaps reused
		}
		if c.swept.Load() { // a connection that never lingered skips the sweeper's lock
			sweeping.remove(c)
		}
		err = c.c.Close()
	})
	return err
}
