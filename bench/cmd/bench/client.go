package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// This file is the load generator's client: a lean hand-written client for every
// transport (WebSocket, SockJS websocket / xhr-streaming / xhr-polling, Engine.IO
// websocket / polling) and every dialect (sockhop's wire format, Centrifuge's JSON
// protocol, Socket.IO). Broadcast messages are only counted (a prefix test, no JSON
// decoding), so the load generator stays cheaper than the servers it measures.

// transport carries messages: send puts one message in one frame (or request); run reads
// until the connection ends, calling open once when messages can be sent and frame for
// every frame received.
type transport interface {
	send(msg []byte) error
	run(open func(), frame func([]byte)) error
	close()
}

// stats are shared by all clients of one measurement.
type stats struct {
	bcast     atomic.Int64 // broadcast messages received
	another   atomic.Int64 // c[2010,"Another connection still open"] frames seen
	reconnect atomic.Int64 // xhr-streaming responses that ended and were reopened
	rounds    atomic.Int64 // echo round trips completed
}

// Client is one benchmark connection.
type Client struct {
	dialect string
	tr      transport
	st      *stats

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	ready   chan struct{}
	once    sync.Once
	done    chan struct{}
	err     error // set before done is closed

	// sockhop's acknowledgements (PROTOCOL.md §6), owned by the reading goroutine: the
	// counted messages (ev, ack) received, and the count last reported with a pong's r.
	rx, rxSaid int64
}

// ackEvery is how many counted messages a sockhop client receives before it reports them
// with an unsolicited pong, as the JS and Go clients do (PROTOCOL.md §6). A client that
// never reports makes the server keep a MiB of replies per session for a resume.
const ackEvery = 32

type reply struct {
	data []byte
	err  error
}

var errClosed = errors.New("connection closed")

// dial opens a connection to target t at base ("127.0.0.1:port") and waits for the
// protocol handshake (sockhop welcome, Centrifuge connect reply, Socket.IO connect).
func dial(ctx context.Context, t target, base string, st *stats) (*Client, error) {
	tr, err := newTransport(ctx, t, base, st)
	if err != nil {
		return nil, err
	}
	c := &Client{dialect: t.Dialect, tr: tr, st: st, pending: make(map[int64]chan reply),
		ready: make(chan struct{}), done: make(chan struct{})}
	if c.dialect == "cf" {
		c.nextID = 1 // id 1 is the connect command
	}
	go func() {
		err := tr.run(c.onOpen, c.onFrame)
		c.fail(err)
	}()
	select {
	case <-c.ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s: handshake: %w", t.Name, c.err)
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("%s: handshake: %w", t.Name, ctx.Err())
	}
}

func (c *Client) fail(err error) {
	if err == nil {
		err = errClosed
	}
	c.once.Do(func() {
		c.err = err
		close(c.done)
		c.tr.close()
	})
}

// Close ends the connection.
func (c *Client) Close() { c.fail(errClosed) }

func (c *Client) onOpen() {
	switch c.dialect {
	case "raw":
		c.setReady() // the upgrade is the whole handshake
	case "sh":
		if w, ok := c.tr.(*wsTransport); ok && w.early {
			return // the server has the hello; the welcome is on its way
		}
		c.send([]byte(`{"t":"hello","v":1}`))
	case "cf":
		c.pending[1] = make(chan reply, 1)
		c.send([]byte(`{"id":1,"connect":{}}`))
	}
}

func (c *Client) send(msg []byte) {
	if err := c.tr.send(msg); err != nil {
		c.fail(err)
	}
}

func (c *Client) onFrame(f []byte) {
	if c.dialect == "raw" {
		c.onRaw(f)
		return
	}
	if c.dialect == "sio" {
		c.onMessage(f)
		return
	}
	for len(f) > 0 {
		i := bytes.IndexByte(f, '\n')
		if i < 0 {
			c.onMessage(f)
			break
		}
		if i > 0 {
			c.onMessage(f[:i])
		}
		f = f[i+1:]
	}
	if c.dialect == "sh" && c.rx-c.rxSaid >= ackEvery {
		c.rxSaid = c.rx
		pong := append(strconv.AppendInt([]byte(`{"t":"pong","r":`), c.rx, 10), '}')
		if _, ok := c.tr.(*xhrTransport); ok {
			go c.send(pong) // an xhr_send waits for its answer: not on the receiving goroutine
		} else {
			c.send(pong)
		}
	}
}

var (
	shBcast  = []byte(`{"t":"ev","n":"b"`)
	cfPush   = []byte(`{"push":{"channel":`)
	sioBcast = []byte(`42["b"`)
	// The handshake's answers are known by their prefix too, as Socket.IO's always were:
	// decoding them with encoding/json took 7.5% of the load generator's CPU while it
	// opened sockhop connections, and connection rates are near its limit.
	shWelcome = []byte(`{"t":"welcome",`)
	cfConnect = []byte(`{"id":1,"connect":{`)
	// The replies that answer almost every request, by their shape (fastReply).
	shAck, shData, shEnd = []byte(`{"t":"ack","id":`), []byte(`,"d":`), []byte(`}`)
	cfID, cfData, cfEnd  = []byte(`{"id":`), []byte(`,"rpc":{"data":`), []byte(`}}`)
)

// fastReply takes a reply of the shape prefix, a decimal id, mid, data, end apart without
// encoding/json, or reports false (the caller then decodes it with encoding/json). The
// load generator makes as many round trips as the server it measures: decoding every
// reply by reflection kept it at 97-99 % of its core during echo, so that the faster a
// server was, the more of its time it spent waiting for the load generator, in the Go
// runtime's network poller, and that time counted against it.
func fastReply(m, prefix, mid, end []byte) (int64, []byte, bool) {
	if len(m) < len(prefix)+len(end) || !bytes.HasPrefix(m, prefix) || !bytes.HasSuffix(m, end) {
		return 0, nil, false
	}
	rest := m[len(prefix) : len(m)-len(end)]
	var id int64
	i := 0
	for ; i < len(rest) && i < 18 && rest[i] >= '0' && rest[i] <= '9'; i++ {
		id = id*10 + int64(rest[i]-'0')
	}
	if i == 0 || !bytes.HasPrefix(rest[i:], mid) || len(rest) == i+len(mid) {
		return 0, nil, false
	}
	return id, rest[i+len(mid):], true
}

func (c *Client) onMessage(m []byte) {
	switch c.dialect {
	case "sh":
		if bytes.HasPrefix(m, shBcast) {
			c.st.bcast.Add(1)
			c.rx++
			return
		}
		if bytes.HasPrefix(m, shWelcome) {
			c.setReady()
			return
		}
		if id, d, ok := fastReply(m, shAck, shData, shEnd); ok {
			c.rx++
			c.resolve(id, d, nil)
			return
		}
		var in struct {
			T    string          `json:"t"`
			ID   int64           `json:"id"`
			D    json.RawMessage `json:"d"`
			E    json.RawMessage `json:"e"`
			Code int             `json:"code"`
		}
		if err := json.Unmarshal(m, &in); err != nil {
			c.fail(fmt.Errorf("bad message %q: %w", m, err))
			return
		}
		switch in.T {
		case "welcome":
			c.setReady()
		case "ev":
			c.rx++
		case "ping":
			c.send([]byte(`{"t":"pong"}`))
		case "ack":
			c.rx++
			if in.E != nil {
				c.resolve(in.ID, nil, fmt.Errorf("error reply %s", in.E))
			} else {
				c.resolve(in.ID, in.D, nil)
			}
		case "close":
			c.fail(fmt.Errorf("server closed: %s", m))
		}
	case "cf":
		if bytes.HasPrefix(m, cfPush) {
			c.st.bcast.Add(1)
			return
		}
		if bytes.HasPrefix(m, cfConnect) {
			c.resolve(1, nil, nil)
			c.setReady()
			return
		}
		if string(m) == "{}" {
			c.send([]byte("{}"))
			return
		}
		if id, d, ok := fastReply(m, cfID, cfData, cfEnd); ok {
			c.resolve(id, d, nil)
			return
		}
		var in struct {
			ID    int64           `json:"id"`
			Error json.RawMessage `json:"error"`
			RPC   *struct {
				Data json.RawMessage `json:"data"`
			} `json:"rpc"`
		}
		if err := json.Unmarshal(m, &in); err != nil {
			c.fail(fmt.Errorf("bad message %q: %w", m, err))
			return
		}
		switch {
		case in.Error != nil:
			c.resolve(in.ID, nil, fmt.Errorf("error reply %s", in.Error))
		case in.RPC != nil:
			c.resolve(in.ID, in.RPC.Data, nil)
		case in.ID == 1:
			c.resolve(1, nil, nil)
			c.setReady()
		default:
			c.resolve(in.ID, []byte("true"), nil)
		}
	case "sio":
		switch {
		case bytes.HasPrefix(m, sioBcast):
			c.st.bcast.Add(1)
		case len(m) == 1 && m[0] == '2':
			c.send([]byte("3"))
		case len(m) > 0 && m[0] == '0':
			c.send([]byte("40"))
		case bytes.HasPrefix(m, []byte("40")):
			c.setReady()
		case bytes.HasPrefix(m, []byte("43")):
			i := bytes.IndexByte(m, '[')
			if i < 0 {
				c.fail(fmt.Errorf("bad ack %q", m))
				return
			}
			id, err := strconv.ParseInt(string(m[2:i]), 10, 64)
			if err != nil {
				c.fail(fmt.Errorf("bad ack %q", m))
				return
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(m[i:], &arr); err != nil || len(arr) == 0 {
				c.fail(fmt.Errorf("bad ack %q", m))
				return
			}
			c.resolve(id, arr[0], nil)
		case bytes.HasPrefix(m, []byte("41")), bytes.HasPrefix(m, []byte("44")), bytes.HasPrefix(m, []byte("1")):
			c.fail(fmt.Errorf("server closed: %s", m))
		}
	}
}

// onRaw handles one frame of the raw dialect (bench/cmd/peer/gorillaraw.go): a reply
// "<letter> <id>[ <data>]" or a broadcast message (any other frame, counted).
func (c *Client) onRaw(f []byte) {
	if len(f) < 3 || f[1] != ' ' {
		c.st.bcast.Add(1)
		return
	}
	rest := f[2:]
	idb, data, _ := bytes.Cut(rest, []byte(" "))
	id, err := strconv.ParseInt(string(idb), 10, 64)
	if err != nil {
		c.fail(fmt.Errorf("bad raw frame %q", f))
		return
	}
	c.resolve(id, data, nil)
}

func (c *Client) setReady() {
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
}

func (c *Client) resolve(id int64, data []byte, err error) {
	c.mu.Lock()
	ch := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ch != nil {
		ch <- reply{data: bytes.Clone(data), err: err}
	}
}

// Call sends a request and waits for its reply: join (room), echo, bcast. In the raw
// dialect the request is a short text command built from the same arguments. The echo
// requests are built by appending, not with fmt: the load generator shares the servers'
// round trips one for one and must stay the cheaper side (see fastReply).
func (c *Client) Call(ctx context.Context, name string, data []byte) ([]byte, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	var msg []byte
	switch c.dialect {
	case "sh":
		msg = append(strconv.AppendQuote(append(msg, `{"t":"ev","n":`...), name), `,"d":`...)
		msg = append(strconv.AppendInt(append(append(msg, data...), `,"id":`...), id, 10), '}')
	case "cf":
		if name == "join" {
			var room string
			_ = json.Unmarshal(data, &room)
			msg = fmt.Appendf(nil, `{"id":%d,"subscribe":{"channel":%q}}`, id, room)
		} else {
			msg = strconv.AppendQuote(append(strconv.AppendInt(append(msg, `{"id":`...), id, 10), `,"rpc":{"method":`...), name)
			msg = append(append(append(msg, `,"data":`...), data...), "}}"...)
		}
	case "sio":
		msg = strconv.AppendQuote(append(strconv.AppendInt(append(msg, "42"...), id, 10), '['), name)
		msg = append(append(append(msg, ','), data...), ']')
	case "raw":
		switch name {
		case "join":
			var room string
			_ = json.Unmarshal(data, &room)
			msg = fmt.Appendf(nil, "j %d %s", id, room)
		case "bcast":
			var b struct {
				Room string `json:"room"`
				M    int    `json:"m"`
				S    int    `json:"s"`
			}
			_ = json.Unmarshal(data, &b)
			msg = fmt.Appendf(nil, "b %d %s %d %d", id, b.Room, b.M, b.S)
		default:
			msg = append(append(strconv.AppendInt(append(msg, "e "...), id, 10), ' '), data...)
		}
	}
	c.send(msg)
	select {
	case r := <-ch:
		return r.data, r.err
	case <-c.done:
		return nil, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// --- transports

var httpClient = &http.Client{Transport: &http.Transport{
	MaxIdleConns:        0,
	MaxIdleConnsPerHost: 20000,
	DisableCompression:  true,
	DialContext:         dialNoTimeWait,
}}

var wsDialer = &websocket.Dialer{HandshakeTimeout: 20 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024,
	NetDialContext: dialNoTimeWait}

var tcpDialer = &net.Dialer{Timeout: 10 * time.Second}

// dialNoTimeWait dials a TCP connection whose close resets it (SO_LINGER 0) instead of
// leaving it in TIME_WAIT for a minute. The load generator closes first, so every
// connection it closed held one of its ephemeral ports (28,232 here) for that minute:
// after one 18,000-connection measurement the next one's connect calls searched a port
// range two thirds taken, and paid for it by the position of its target in the run
// (connect was 55-62% of the generator's CPU while it opened connections).
func dialNoTimeWait(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := tcpDialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return c, nil
}

func randomSession() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newTransport(ctx context.Context, t target, base string, st *stats) (transport, error) {
	switch t.Transport {
	case "ws":
		var protos []string
		if t.Subprotocol != "" {
			protos = []string{t.Subprotocol}
		}
		if t.Dialect == "sh" { // the hello rides in the upgrade, as the bundled clients send it
			protos = []string{shHelloProtocol, t.Subprotocol}
		}
		conn, _, err := wsDialer.DialContext(ctx, "ws://"+base+t.Path, http.Header{"Sec-WebSocket-Protocol": protos})
		if err != nil {
			return nil, err
		}
		return &wsTransport{conn: conn, early: t.Dialect == "sh" && conn.Subprotocol() == shHelloProtocol}, nil
	case "sockjs-ws":
		conn, _, err := wsDialer.DialContext(ctx, "ws://"+base+t.Path+"/000/"+randomSession()+"/websocket", nil)
		if err != nil {
			return nil, err
		}
		return &sockjsWS{wsTransport{conn: conn}}, nil
	case "xhr-streaming", "xhr-polling":
		return newXHR(base, t.Path, t.Transport == "xhr-streaming", st), nil
	case "sio-polling":
		ctx, cancel := context.WithCancel(context.Background())
		return &sioPolling{url: "http://" + base + t.Path + "?EIO=4&transport=polling", ctx: ctx, cancel: cancel}, nil
	}
	return nil, fmt.Errorf("unknown transport %q", t.Transport)
}

// shHelloProtocol carries sockhop's hello {"t":"hello","v":1} in the upgrade (PROTOCOL.md §3).
const shHelloProtocol = "sockhop.v1.hello"

// wsTransport: one WebSocket message per frame.
type wsTransport struct {
	conn  *websocket.Conn
	early bool // the upgrade carried sockhop's hello
	wmu   sync.Mutex
}

func (w *wsTransport) send(msg []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.conn.WriteMessage(websocket.TextMessage, msg)
}

// run reads every frame into one buffer: frame copies what it keeps (resolve).
func (w *wsTransport) run(open func(), frame func([]byte)) error {
	open()
	buf := make([]byte, 0, 512)
	for {
		_, r, err := w.conn.NextReader()
		if err != nil {
			return err
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		frame(buf)
	}
}

func (w *wsTransport) close() { w.conn.Close() }

// sockjsWS: SockJS framing (o, h, a[...], c[...]) over WebSocket.
type sockjsWS struct{ wsTransport }

func (s *sockjsWS) send(msg []byte) error {
	b, _ := json.Marshal([]string{string(msg)})
	return s.wsTransport.send(b)
}

func (s *sockjsWS) run(open func(), frame func([]byte)) error {
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		if err := sockjsFrame(b, open, frame, nil); err != nil {
			return err
		}
	}
}

// sockjsFrame handles one SockJS frame. A c[2010,...] frame is counted in another and is
// not an error (PROTOCOL.md §7: poll again).
func sockjsFrame(b []byte, open func(), frame func([]byte), another *atomic.Int64) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case 'o':
		open()
	case 'h':
	case 'a':
		// One message, as the servers send an answer, without encoding/json.
		if len(b) > 3 && b[1] == '[' && b[len(b)-1] == ']' {
			if m, ok := unquoteJSON(b[2 : len(b)-1]); ok {
				frame(m)
				return nil
			}
		}
		var frames []string
		if err := json.Unmarshal(b[1:], &frames); err != nil {
			return fmt.Errorf("bad sockjs frame %q: %w", b, err)
		}
		for _, f := range frames {
			frame([]byte(f))
		}
	case 'c':
		if another != nil && bytes.HasPrefix(b, []byte("c[2010,")) {
			another.Add(1)
			return errAnother
		}
		return fmt.Errorf("sockjs closed: %s", b)
	}
	return nil
}

var errAnother = errors.New("another connection still open")

// xhrTransport: SockJS xhr-streaming or xhr-polling receive requests, xhr_send for sending.
type xhrTransport struct {
	url       string // http://host:port/path/000/session
	path      string // /path/000/session
	key       string // the session's key, sent in X-Sockhop-Key (sockhop requires it; others ignore it)
	streaming bool
	st        *stats
	ctx       context.Context
	cancel    context.CancelFunc
	h         *rawHTTP   // xhr_send, and the polls of xhr-polling
	sendHdr   []string   // xhr_send's headers, made once
	smu       sync.Mutex // one xhr_send at a time, as the JS client sends them (its pong waits too)
}

func newXHR(base, path string, streaming bool, st *stats) *xhrTransport {
	ctx, cancel := context.WithCancel(context.Background())
	sp := path + "/000/" + randomSession()
	key := randomSession() + randomSession()
	return &xhrTransport{url: "http://" + base + sp, path: sp, key: key,
		streaming: streaming, st: st, ctx: ctx, cancel: cancel, h: &rawHTTP{addr: base, ctx: ctx},
		sendHdr: []string{"Content-Type: text/plain", "X-Sockhop-Key: " + key}}
}

func (x *xhrTransport) send(msg []byte) error {
	x.smu.Lock()
	defer x.smu.Unlock()
	b := append(appendJSONString([]byte{'['}, msg), ']')
	status, _, err := x.h.post(x.path+"/xhr_send", x.sendHdr, b, nil)
	if err != nil {
		return err
	}
	if status != 204 && status != 200 {
		return fmt.Errorf("xhr_send: status %d", status)
	}
	return nil
}

// appendJSONString appends s to b as a JSON string.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// unquoteJSON decodes the JSON string s (quotes included) when its escapes are plain
// (\", \\, \/, \n, \r, \t, \u00XX), or reports false: the caller then decodes it with
// encoding/json.
func unquoteJSON(s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	s = s[1 : len(s)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c < 0x20 {
			return nil, false
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(s) || s[i+1] != '0' || s[i+2] != '0' {
				return nil, false
			}
			v, err := strconv.ParseUint(string(s[i+3:i+5]), 16, 8)
			if err != nil || v >= 0x80 {
				return nil, false
			}
			out, i = append(out, byte(v)), i+4
		default:
			return nil, false
		}
	}
	return out, true
}

func (x *xhrTransport) run(open func(), frame func([]byte)) error {
	opened := false
	onOpen := func() {
		if !opened {
			opened = true
			go open() // open sends, which needs the session this request created
		}
	}
	if !x.streaming {
		return x.poll(onOpen, frame)
	}
	path := "/xhr_streaming"
	for {
		req, _ := http.NewRequestWithContext(x.ctx, "POST", x.url+path, nil)
		req.Header.Set("X-Sockhop-Key", x.key)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		var ferr error
		for {
			line, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				rest, err2 := br.ReadBytes('\n')
				line, err = append(bytes.Clone(line), rest...), err2
			}
			if len(line) > 0 && line[0] != 'h' {
				if ferr = sockjsFrame(bytes.TrimSuffix(line, []byte("\n")), onOpen, frame, &x.st.another); ferr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		switch {
		case ferr == errAnother:
			time.Sleep(5 * time.Millisecond)
		case ferr != nil:
			return ferr
		case x.streaming:
			x.st.reconnect.Add(1)
		}
		if x.ctx.Err() != nil {
			return x.ctx.Err()
		}
	}
}

// poll is xhr-polling's receiving side: one poll after another, each answered with a
// frame and a newline.
func (x *xhrTransport) poll(onOpen func(), frame func([]byte)) error {
	hdr := []string{"X-Sockhop-Key: " + x.key}
	var buf []byte
	for {
		status, body, err := x.h.post(x.path+"/xhr", hdr, nil, buf)
		if err != nil {
			if x.ctx.Err() != nil {
				return x.ctx.Err()
			}
			return err
		}
		if status != 200 {
			return fmt.Errorf("/xhr: status %d", status)
		}
		buf = body
		var ferr error
		for len(body) > 0 && ferr == nil {
			line, rest, _ := bytes.Cut(body, []byte("\n"))
			body = rest
			if len(line) > 0 && line[0] != 'h' {
				ferr = sockjsFrame(line, onOpen, frame, &x.st.another)
			}
		}
		switch {
		case ferr == errAnother:
			time.Sleep(5 * time.Millisecond)
		case ferr != nil:
			return ferr
		}
		if x.ctx.Err() != nil {
			return x.ctx.Err()
		}
	}
}

func (x *xhrTransport) close() { x.cancel() }

// sioPolling: Engine.IO v4 long-polling; packets separated by 0x1e.
type sioPolling struct {
	url    string
	ctx    context.Context
	cancel context.CancelFunc
	sid    atomic.Pointer[string]
}

func (p *sioPolling) send(msg []byte) error {
	sid := p.sid.Load()
	if sid == nil {
		return errors.New("engine.io: send before open")
	}
	req, _ := http.NewRequestWithContext(p.ctx, "POST", p.url+"&sid="+*sid, bytes.NewReader(msg))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("engine.io POST: %s", resp.Status)
	}
	return nil
}

func (p *sioPolling) run(open func(), frame func([]byte)) error {
	for {
		u := p.url
		if sid := p.sid.Load(); sid != nil {
			u += "&sid=" + *sid
		}
		req, _ := http.NewRequestWithContext(p.ctx, "GET", u, nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("engine.io GET: %s: %s", resp.Status, body)
		}
		for pkt := range strings.SplitSeq(string(body), "\x1e") {
			if len(pkt) > 0 && pkt[0] == '0' && p.sid.Load() == nil {
				var o struct {
					SID string `json:"sid"`
				}
				if err := json.Unmarshal([]byte(pkt[1:]), &o); err != nil {
					return fmt.Errorf("engine.io open %q: %w", pkt, err)
				}
				p.sid.Store(&o.SID)
				go frame([]byte(pkt)) // answers "40" with a POST
				continue
			}
			if pkt == "6" { // noop
				continue
			}
			frame([]byte(pkt))
		}
	}
}

func (p *sioPolling) close() { p.cancel() }
