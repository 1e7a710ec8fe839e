// Package dial opens client-side sockhop transport connections: WebSocket, SockJS
// xhr-streaming and SockJS xhr-polling. The Go client runs sessions over them, and tests
// use them to send raw frames, bad ones included, on every transport.
//
// WebSocket dials M/ws, or M/ws?node=<id> when [Options] names a node. A SockJS connection
// is one SockJS session: POST M/sockjs/<server>/<session>/xhr_streaming or /xhr to receive,
// /xhr_send to send, each with the session's key in [KeyHeader]. <server> is three random
// digits, or the node [Options] names, until an answer's [NodeHeader] names the node that
// served it: every later request of the session names that node (PROTOCOL.md §7).
//
// # Concurrency
//
// A Conn has one reader and one writer; Close may be called from any goroutine.
package dial

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/transport"
)

// Options configure Dial.
type Options struct {
	// Header is sent with every request (Origin, Cookie, Authorization...).
	Header http.Header
	// HTTPClient carries the SockJS requests. Nil means a client of the Conn's own, whose
	// idle connections are closed with the Conn. When its Transport is an *http.Transport,
	// the WebSocket dial uses its TLSClientConfig and, when set, its Proxy (else the
	// environment's, http.ProxyFromEnvironment).
	HTTPClient *http.Client
	// WriteTimeout bounds each write. Zero means 10s.
	WriteTimeout time.Duration
	// MaxFrameSize bounds a received frame. Zero means 64 MiB.
	MaxFrameSize int
	// Resume tells a SockJS server that the hello will resume a session, which is counted
	// against the address's session limit already (PROTOCOL.md §7).
	Resume bool
	// Node names the node the session to resume lives on, the node of its last welcome
	// (PROTOCOL.md §7, "Many nodes"): WebSocket dials M/ws?node=Node, SockJS names it as
	// <server> from the session's first request. Empty, for a new session, or a value that
	// is no node id names none.
	Node string
	// Hello, when not empty, is a hello subprotocol ([events.HelloProtocol]) a WebSocket
	// dial offers before events.Subprotocol; [HelloTaken] tells whether the server took it.
	Hello string
}

// HelloTaken reports whether c's upgrade carried the hello (Options.Hello, taken by the
// server): the client then sends none and waits for the welcome.
func HelloTaken(c Conn) bool {
	wc, ok := c.(*wsConn)
	return ok && wc.hello
}

// Conn is a client-side transport connection; it implements [transport.Conn].
type Conn interface {
	transport.Conn
}

// Dial opens a connection on the named transport to the server mounted at base
// ("http://host:port/rt"). For the SockJS transports it returns once the server has
// opened the SockJS session.
func Dial(ctx context.Context, base, name string, opts Options) (Conn, error) {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = 64 << 20
	}
	base = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("sockhop: dial: base URL %q must be http:// or https://", base)
	}
	var c Conn
	switch name {
	case transport.WebSocket:
		c, err = dialWS(ctx, u, opts)
	case transport.XHRStreaming, transport.XHRPolling:
		c, err = dialSockJS(ctx, base, name, opts)
	default:
		return nil, fmt.Errorf("sockhop: dial: unknown transport %q", name)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ---- WebSocket

type wsConn struct {
	transport.Peer
	c            *websocket.Conn
	writeTimeout time.Duration
	hello        bool // the upgrade carried the hello
	once         sync.Once
}

func dialWS(ctx context.Context, u *url.URL, opts Options) (*wsConn, error) {
	wu := *u
	wu.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	wu.Path += "/ws"
	wu = withNode(wu, opts.Node)
	protos := []string{events.Subprotocol}
	if opts.Hello != "" {
		protos = []string{opts.Hello, events.Subprotocol}
	}
	d := websocket.Dialer{
		Subprotocols:     protos,
		HandshakeTimeout: 10 * time.Second,
		Proxy:            http.ProxyFromEnvironment,
	}
	if opts.HTTPClient != nil {
		if t, ok := opts.HTTPClient.Transport.(*http.Transport); ok {
			// Clone waits for the Transport's lazy set-up, which a SockJS request on another
			// goroutine (the ladder's, the round-trip measurement) may be running, and which
			// adds "h2" to the config's NextProtos: a WebSocket upgrade is HTTP/1.1.
			if cfg := t.Clone().TLSClientConfig; cfg != nil {
				d.TLSClientConfig = cfg.Clone()
				d.TLSClientConfig.NextProtos = nil
			}
			if t.Proxy != nil {
				d.Proxy = t.Proxy // the SockJS requests' proxy, for WebSocket too
			}
		}
	}
	c, resp, err := d.DialContext(ctx, wu.String(), opts.Header)
	if err != nil {
		if resp != nil {
			return nil, httpError(opUpgrade, resp)
		}
		return nil, fmt.Errorf("sockhop: dial websocket: %w", err)
	}
	c.SetReadLimit(int64(opts.MaxFrameSize))
	return &wsConn{c: c, writeTimeout: opts.WriteTimeout, hello: opts.Hello != "" && c.Subprotocol() == opts.Hello}, nil
}

func (c *wsConn) Name() string { return transport.WebSocket }

func (c *wsConn) ReadFrame() ([]byte, error) {
	p, bin, err := c.ReadMessage()
	if err == nil && bin {
		return nil, &events.CloseError{Code: events.CloseUnsupportedData, Reason: "binary frame before the welcome"}
	}
	return p, err
}

// ReadMessage reads the next message, text or binary, reporting which.
func (c *wsConn) ReadMessage() ([]byte, bool, error) {
	typ, p, err := c.c.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return nil, false, &events.CloseError{Code: ce.Code, Reason: ce.Text}
		}
		return nil, false, err
	}
	return p, typ == websocket.BinaryMessage, nil
}

// WriteBinary writes msg as one binary message.
func (c *wsConn) WriteBinary(msg []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.c.WriteMessage(websocket.BinaryMessage, msg)
}

func (c *wsConn) WriteFrame(msgs [][]byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.c.WriteMessage(websocket.TextMessage, bytes.Join(msgs, []byte{'\n'}))
}

// WriteRaw writes one WebSocket message of the given type as is, for tests of bad input.
func (c *wsConn) WriteRaw(messageType int, p []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.c.WriteMessage(messageType, p)
}

func (c *wsConn) Close(code int, reason string) error {
	err := transport.ErrClosed
	c.once.Do(func() {
		_ = c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		err = c.c.Close()
	})
	return err
}

// ---- SockJS

// HTTPError is a request answered with an unexpected status: a refused WebSocket
// upgrade, or a SockJS request.
type HTTPError struct {
	Op     string
	Status int
	// RetryAfter is the server's Retry-After (seconds or an HTTP date, at most an hour);
	// zero if none.
	RetryAfter time.Duration
	// Code is the close code the status stands for (PROTOCOL.md §5, HTTP refusals), or 0
	// when it is not one of sockhop's refusals (a proxy's answer, a transport turned off).
	Code int
}

// maxRetryAfter bounds a Retry-After, as the JS client does.
const maxRetryAfter = time.Hour

// httpError describes resp's failure of op.
func httpError(op string, resp *http.Response) *HTTPError {
	e := &HTTPError{Op: op, Status: resp.StatusCode, Code: refusalCode(op, resp.StatusCode)}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date; zero when absent
// or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	var d time.Duration
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(s, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// refusalCode maps a status answered to op to the close code of PROTOCOL.md §5's HTTP
// refusals (testdata/protocol/close-codes.json), or 0. A WebSocket upgrade is refused by
// sockhop only with 403, 429 and 503; anything else there (a 400 or 404 from a proxy or a
// server with WebSocket off) means the transport does not work, not a verdict on the
// client.
func refusalCode(op string, status int) int {
	switch status {
	case http.StatusForbidden:
		return events.ClosePolicyViolation
	case http.StatusTooManyRequests:
		return events.CloseTryAgainLater
	case http.StatusServiceUnavailable:
		return events.CloseGoingAway
	}
	if op == opUpgrade {
		return 0
	}
	switch status {
	case http.StatusBadRequest:
		return events.CloseProtocolError
	case http.StatusNotFound, http.StatusRequestTimeout:
		return events.CloseAbnormal
	case http.StatusRequestEntityTooLarge:
		return events.CloseTooBig
	}
	return 0
}

const opUpgrade = "websocket upgrade"

// Error names the request and its status, and what a 403 means.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("sockhop: %s: HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	switch {
	case e.Status == http.StatusForbidden && e.Code == events.CloseAbnormal:
		s += " (the SockJS session id has another key: the server lost the session)"
	case e.Status == http.StatusForbidden:
		s += " (the server does not allow this Origin)"
	}
	return s
}

// Unwrap returns the refusal as a *events.CloseError with Code and RetryAfter, so that
// events.CloseCode and errors.As read it like a close; nil when Code is 0.
func (e *HTTPError) Unwrap() error {
	if e.Code == 0 {
		return nil
	}
	return &events.CloseError{Code: e.Code, Reason: fmt.Sprintf("HTTP %d", e.Status), Retry: e.RetryAfter.Milliseconds()}
}

type sockjsConn struct {
	transport.Peer
	name    string
	base    string // the mount URL M: requests go to M/sockjs/<server>/<session>/...
	server  server // <server>: the session's node once known (PROTOCOL.md §7)
	session string // <session>
	client  *http.Client
	ownHTTP bool
	header  http.Header
	key     string // the session's key: X-Sockhop-Key on every request, never in the URL
	opts    Options

	ctx    context.Context
	cancel context.CancelFunc
	frames chan []byte // receiver -> ReadFrame
	done   chan struct{}

	mu  sync.Mutex
	err error // why the receiver stopped; guarded by mu

	closeOnce sync.Once
	sends     atomic.Uint64 // xhr_send requests made
	polls     atomic.Uint64 // receiving requests made
}

const idChars = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idChars[rand.IntN(len(idChars))]
	}
	return string(b)
}

func dialSockJS(ctx context.Context, base, name string, opts Options) (*sockjsConn, error) {
	c := &sockjsConn{
		name:    name,
		base:    base,
		session: randomString(16),
		client:  opts.HTTPClient,
		header:  opts.Header,
		key:     newKey(),
		opts:    opts,
		frames:  make(chan []byte, 64),
		done:    make(chan struct{}),
	}
	c.server.set(fmt.Sprintf("%03d", rand.IntN(1000)))
	if validNode(opts.Node) { // a resume: the session's node, from the first request on
		c.server.set(opts.Node)
	}
	if c.client == nil {
		c.client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 4}}
		c.ownHTTP = true
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	opened := make(chan error, 1)
	go c.receive(opened)
	select {
	case err := <-opened:
		if err != nil {
			c.Close(events.CloseNormal, "")
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close(events.CloseNormal, "")
		return nil, fmt.Errorf("sockhop: dial %s: %w", name, ctx.Err())
	}
}

func (c *sockjsConn) Name() string { return c.name }

func (c *sockjsConn) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL()+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	req.Header.Set(KeyHeader, c.key)
	resp, err := c.client.Do(req)
	if err == nil {
		// The answer names the node that served it, as soon as its headers are in: the
		// requests that follow go there (the hello's xhr_send follows the first answer).
		c.server.learn(resp.Header.Get(NodeHeader))
	}
	return resp, err
}

// KeyHeader carries a SockJS session's key (PROTOCOL.md §7); transport/sockjs checks it.
const KeyHeader = "X-Sockhop-Key"

// newKey returns a SockJS session key: 192 random bits, base64url.
func newKey() string {
	b := make([]byte, 24)
	_, _ = crand.Read(b) // never fails (crypto/rand.Read panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// receive runs the receiving requests: one long stream at a time (reopened when the
// server ends it), or one poll after another. It reports the open frame on opened.
func (c *sockjsConn) receive(opened chan<- error) {
	defer close(c.done)
	path := "/xhr_streaming"
	if c.name == transport.XHRPolling {
		path = "/xhr"
	}
	resume := ""
	if c.opts.Resume {
		resume = "&resume=1"
	}
	isOpen := false
	fail := func(err error) {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		if !isOpen {
			opened <- err
		}
	}
	for c.ctx.Err() == nil {
		resp, err := c.post(c.ctx, path+"?p="+strconv.FormatUint(c.polls.Add(1), 10)+resume, nil)
		if err != nil {
			fail(fmt.Errorf("sockhop: %s: %w", c.name, err))
			return
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			e := httpError(c.name, resp)
			if isOpen {
				lostKey(e)
			}
			fail(e)
			return
		}
		again, err := c.readFrames(resp.Body, func() error {
			if isOpen { // a second open frame: the server lost our session and made a new one
				return fmt.Errorf("sockhop: %s: the server's SockJS session ended", c.name)
			}
			isOpen = true
			opened <- nil
			return nil
		})
		resp.Body.Close()
		if err != nil {
			fail(err)
			return
		}
		if again {
			select { // another request of ours is still attached: let it detach
			case <-time.After(20 * time.Millisecond):
			case <-c.ctx.Done():
			}
		}
	}
	fail(transport.ErrClosed)
}

// readFrames reads SockJS frames from one response. It returns again=true when the server
// said another request is still attached (2010), and an error when the session is over.
func (c *sockjsConn) readFrames(body io.Reader, onOpen func() error) (again bool, err error) {
	br := bufio.NewReaderSize(body, 4096)
	for {
		line, err := readLine(br, c.opts.MaxFrameSize)
		if err == io.EOF {
			return false, nil // the response ended: open the next one
		}
		if err != nil {
			if c.ctx.Err() != nil {
				return false, transport.ErrClosed
			}
			return false, fmt.Errorf("sockhop: %s: %w", c.name, err)
		}
		if len(line) == 0 && c.name == transport.XHRPolling {
			// sockjs-go answers a poll of a session it closed after an interrupted request
			// with an empty close frame.
			return false, fmt.Errorf("sockhop: %s: the server's SockJS session ended", c.name)
		}
		if len(line) == 0 || strings.Trim(string(line[:min(len(line), 4096)]), "h") == "" && line[0] == 'h' {
			continue // prelude or SockJS heartbeat
		}
		switch line[0] {
		case 'o':
			if err := onOpen(); err != nil {
				return false, err
			}
		case 'a':
			var msgs []string
			if err := json.Unmarshal(line[1:], &msgs); err != nil {
				return false, fmt.Errorf("sockhop: %s: bad frame: %w", c.name, err)
			}
			for _, m := range msgs {
				select {
				case c.frames <- []byte(m):
				case <-c.ctx.Done():
					return false, transport.ErrClosed
				}
			}
		case 'c':
			var cl []any
			if err := json.Unmarshal(line[1:], &cl); err != nil || len(cl) != 2 {
				return false, fmt.Errorf("sockhop: %s: bad close frame %q", c.name, line)
			}
			code, _ := cl[0].(float64)
			reason, _ := cl[1].(string)
			if code == 2010 {
				return true, nil
			}
			_ = onOpen() // a session closed at once was still opened
			return false, &events.CloseError{Code: int(code), Reason: reason}
		default:
			return false, fmt.Errorf("sockhop: %s: unknown frame %q", c.name, line[:min(len(line), 16)])
		}
	}
}

func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > max {
			return nil, fmt.Errorf("frame over %d bytes", max)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return bytes.TrimRight(buf, "\n"), nil
			}
			return nil, err
		}
		return buf[:len(buf)-1], nil
	}
}

func (c *sockjsConn) ReadFrame() ([]byte, error) {
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.done:
		select { // frames that arrived before the end
		case f := <-c.frames:
			return f, nil
		default:
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return nil, c.err
	}
}

func (c *sockjsConn) WriteFrame(msgs [][]byte) error {
	return c.WriteRaw(jsonArray(bytes.Join(msgs, []byte{'\n'})))
}

func jsonArray(frame []byte) []byte {
	b, _ := json.Marshal([]string{string(frame)})
	return b
}

// WriteRaw posts body to xhr_send as is, for tests of bad input.
func (c *sockjsConn) WriteRaw(body []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.WriteTimeout)
	defer cancel()
	// Sends are numbered so the server drops one a network layer sent twice.
	resp, err := c.post(ctx, "/xhr_send?s="+strconv.FormatUint(c.sends.Add(1), 10), body)
	if err != nil {
		return fmt.Errorf("sockhop: xhr_send: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return lostKey(httpError("xhr_send", resp)) // sends come after the open frame
	}
	return nil
}

// lostKey reads e, a refusal of a request for a SockJS session the server has opened: a
// 403 there is not the Origin, which the session's first request passed, but a session id
// bound to another key (the server lost the session, and another client took the id).
// The transport is gone, the session is not: it reads as 1006, resume (PROTOCOL.md §7).
func lostKey(e *HTTPError) *HTTPError {
	if e.Status == http.StatusForbidden {
		e.Code = events.CloseAbnormal
	}
	return e
}

// Close stops receiving. The session layer sends its close message before; SockJS has no
// client close frame, the server notices the aborted request.
func (c *sockjsConn) Close(code int, reason string) error {
	err := transport.ErrClosed
	c.closeOnce.Do(func() {
		c.cancel()
		<-c.done
		if c.ownHTTP {
			c.client.CloseIdleConnections()
		}
		err = nil
	})
	return err
}

// URL returns the SockJS session URL, M/sockjs/<server>/<session>, with the <server> its
// next request names; for tests that craft their own requests.
func (c *sockjsConn) URL() string { return c.base + "/sockjs/" + c.server.get() + "/" + c.session }

// Key returns the SockJS session key, for tests that craft their own requests: they send
// it in the KeyHeader header.
func (c *sockjsConn) Key() string { return c.key }
