package sockhop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

// binaryServer echoes bytes ("echo", as a binary ack), keeps the bytes of "upload" for
// the test, and answers "pull" by emitting the bytes it was given as event "blob".
func binaryServer(t *testing.T, opts sockhop.Options, uploads chan<- []byte) string {
	_, url := testServer(t, opts, func(srv *sockhop.Server) {
		sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, b []byte) ([]byte, error) {
			return b, nil
		})
		sockhop.On(srv, "upload", func(ctx context.Context, s *sockhop.Session, b []byte) error {
			uploads <- b
			return nil
		})
		sockhop.OnRequest(srv, "pull", func(ctx context.Context, s *sockhop.Session, b []byte) (int, error) {
			return len(b), s.Emit(ctx, "blob", b)
		})
	})
	return url
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBinaryMiB sends 1 MiB of random bytes each way on every transport, the Go client
// against the server: an event, a request with its binary reply, and a server emit.
func TestBinaryMiB(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		uploads := make(chan []byte, 1)
		url := binaryServer(t, sockhop.Options{MaxMessageSize: 4 << 20, MaxQueueBytes: 8 << 20, ResumeBytes: 8 << 20}, uploads)
		c := dialClient(t, url, tr, client.Options{MaxQueueBytes: 8 << 20})
		blobs := make(chan []byte, 1)
		c.On("blob", func(ctx context.Context, data json.RawMessage) {
			b, ok := client.Bytes(ctx)
			if !ok || data != nil {
				t.Errorf("blob arrived as %d bytes of JSON, not bytes", len(data))
			}
			blobs <- b
		})
		want := randomBytes(t, 1<<20)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		if err := c.Emit(ctx, "upload", want); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-uploads:
			if !bytes.Equal(got, want) {
				t.Fatalf("upload: %d bytes arrived, not the %d sent", len(got), len(want))
			}
		case <-ctx.Done():
			t.Fatal("no upload")
		}

		reply, err := c.EmitWithAck(ctx, "echo", want)
		var got []byte
		if err == nil {
			err = json.Unmarshal(reply, &got)
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("echo: %d bytes, %v", len(got), err)
		}

		if reply, err := c.EmitWithAck(ctx, "pull", want); err != nil || string(reply) != fmt.Sprint(len(want)) {
			t.Fatalf("pull: %s %v", reply, err)
		}
		select {
		case got := <-blobs:
			if !bytes.Equal(got, want) {
				t.Fatalf("blob: %d bytes arrived, not the %d sent", len(got), len(want))
			}
		case <-ctx.Done():
			t.Fatal("no blob")
		}
	})
}

// TestBinaryTooBig: bytes over the server's MaxMessageSize close the session with 1009,
// as text does, and the client says so; a bystander is untouched.
func TestBinaryTooBig(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		url := binaryServer(t, sockhop.Options{MaxMessageSize: 64 << 10}, make(chan []byte, 1))
		bystander := dialClient(t, url, tr, client.Options{})
		c := dialClient(t, url, tr, client.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.EmitWithAck(ctx, "echo", make([]byte, 65<<10)); err == nil {
			t.Fatal("an over-limit message was answered")
		}
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("the client did not stop")
		}
		if code := events.CloseCode(c.Err()); code != sockhop.CloseTooBig {
			t.Fatalf("client ended with %v (code %d), want 1009", c.Err(), code)
		}
		reply, err := bystander.EmitWithAck(ctx, "echo", []byte("ok"))
		if err != nil || string(reply) != `"b2s="` {
			t.Fatalf("bystander: %s %v", reply, err)
		}
	})
}

// binConn reads a raw connection's messages, binary frames included.
type binConn struct {
	*rawConn
	bin bool // the last message came in a binary frame
}

func (c *binConn) next(t *testing.T) *events.Message {
	t.Helper()
	for {
		if r, ok := c.Conn.(interface {
			ReadMessage() ([]byte, bool, error)
		}); ok && len(c.buf) == 0 {
			frame, bin, err := r.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if bin {
				m, err := events.DecodeBinary(frame)
				if err != nil {
					t.Fatalf("server sent a bad binary frame: %v", err)
				}
				c.bin = true
				return &m
			}
			_ = events.Lines(frame, func(l []byte) error {
				if m, err := events.Decode(l); err == nil && m.T != events.TypePing {
					c.buf = append(c.buf, &m)
				}
				return nil
			})
			continue
		}
		m, err := c.rawConn.next()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		c.bin = false
		return m
	}
}

// TestBinaryWire checks the wire forms: a binary frame on WebSocket to a client that said
// bin:1, "b" base64 on SockJS to one, and "d" base64 (as encoding/json made of a []byte
// before) to a client that did not; and that a binary message retained on one transport
// is replayed right on another after a resume.
func TestBinaryWire(t *testing.T) {
	t.Parallel()
	payload := []byte{0, '\n', 0xff, 0xfe, '"', '}'}
	b64, _ := json.Marshal(payload)
	forEachTransport(t, func(t *testing.T, tr string) {
		url := binaryServer(t, sockhop.Options{}, make(chan []byte, 1))
		for _, bin := range []bool{true, false} {
			c := &binConn{rawConn: dialRaw(t, url, tr, nil)}
			hello := `{"t":"hello","v":1}`
			if bin {
				hello = `{"t":"hello","v":1,"bin":1}`
			}
			c.send(hello)
			if w := c.next(t); w.T != events.TypeWelcome || w.Bin != 1 {
				t.Fatalf("welcome %+v, want bin:1", w)
			}
			c.send(`{"t":"ev","n":"echo","id":1,"b":` + string(b64) + `}`)
			m := c.next(t)
			switch {
			case m.T != events.TypeAck || m.ID != 1:
				t.Fatalf("bin %v: got %+v", bin, m)
			case bin && !bytes.Equal(m.B, payload), bin && m.Data != nil:
				t.Fatalf("bin: reply %+v, want b", m)
			case bin && c.bin != (tr == client.WebSocket):
				t.Fatalf("bin: binary frame %v on %s", c.bin, tr)
			case !bin && (string(m.Data) != string(b64) || m.B != nil || c.bin):
				t.Fatalf("no bin: reply %+v, want d %s", m, b64)
			}
		}
	})
	// Retained on one transport, replayed on another: each pair of transports, each way.
	for _, pair := range [][2]string{
		{client.WebSocket, client.XHRStreaming}, {client.XHRStreaming, client.WebSocket},
		{client.WebSocket, client.XHRPolling}, {client.XHRPolling, client.WebSocket},
	} {
		t.Run(pair[0]+"-then-"+pair[1], func(t *testing.T) {
			url := binaryServer(t, sockhop.Options{}, make(chan []byte, 1))
			c := &binConn{rawConn: dialRaw(t, url, pair[0], nil)}
			c.send(`{"t":"hello","v":1,"bin":1}`)
			w := c.next(t)
			c.send(`{"t":"ev","n":"pull","id":1,"b":` + string(b64) + `}`)
			got := 0
			for got < 2 { // the ack (1) and the blob (2), in either order of arrival
				if m := c.next(t); m.T == events.TypeAck || m.Name == "blob" {
					got++
				}
			}
			// Acknowledge nothing: both stay retained. A new transport resumes from 0.
			_ = c.Close(1000, "")
			c2 := &binConn{rawConn: dialRaw(t, url, pair[1], nil)}
			c2.send(fmt.Sprintf(`{"t":"hello","v":1,"bin":1,"resume":{"sid":%q,"token":%q,"seq":0}}`, w.SID, w.Token))
			if w2 := c2.next(t); !w2.Resumed {
				t.Fatalf("not resumed: %+v", w2)
			}
			var blob *events.Message
			for i := 0; i < 2; i++ {
				if m := c2.next(t); m.Name == "blob" {
					blob = m
					if c2.bin != (pair[1] == client.WebSocket) {
						t.Fatalf("replayed blob: binary frame %v on %s", c2.bin, pair[1])
					}
				}
			}
			if blob == nil || !bytes.Equal(blob.B, payload) {
				t.Fatalf("replayed blob %+v, want %v", blob, payload)
			}
		})
	}
}

// TestClientQueueFull: a full offline queue refuses the emit with client.ErrQueueFull,
// and the session goes on: every emit it accepted arrives after the resume, once.
func TestClientQueueFull(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		const n = 50
		uploads := make(chan []byte, n)
		url := binaryServer(t, sockhop.Options{MaxMessageSize: 1 << 20}, uploads)
		host, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
		proxy, err := faultproxy.New(host)
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		c := client.New("http://"+proxy.Addr()+"/"+path, client.Options{Transports: []string{tr}, MaxQueueBytes: 3000,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first := c.SessionID()
		proxy.Refuse(true) // offline: the transport breaks and no new one opens
		proxy.CutAll()
		accepted := 0
		var refused error
		for i := 0; i < n; i++ {
			err := c.Emit(ctx, "upload", bytes.Repeat([]byte{byte(i)}, 1000))
			switch {
			case errors.Is(err, client.ErrQueueFull):
				refused = err
			case err != nil:
				t.Fatalf("emit %d: %v", i, err)
			default:
				accepted++
			}
		}
		if refused == nil {
			t.Fatalf("%d emits of 1000 bytes offline, none refused by a 3000-byte queue", n)
		}
		select {
		case <-c.Done():
			t.Fatalf("the client ended: %v", c.Err())
		default:
		}
		proxy.Refuse(false)
		for i := 0; i < accepted; i++ {
			select {
			case <-uploads:
			case <-ctx.Done():
				t.Fatalf("only %d of %d accepted emits arrived", i, accepted)
			}
		}
		reply, err := c.EmitWithAck(ctx, "echo", []byte("ok"))
		if err != nil || string(reply) != `"b2s="` || c.SessionID() != first {
			t.Fatalf("echo after the refusals: %s %v, session %q was %q", reply, err, c.SessionID(), first)
		}
		select {
		case b := <-uploads:
			t.Fatalf("an extra upload arrived (%d bytes): duplicated", len(b))
		default:
		}
	})
}

// BenchmarkBinaryEcho echoes 1 MiB through the server with the Go client on each
// transport: as bytes (binary frames on WebSocket, base64 "b" on SockJS) and, for
// comparison, as the base64 JSON string an app had to send before.
func BenchmarkBinaryEcho(b *testing.B) {
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	for _, tr := range transports {
		for _, form := range []string{"bytes", "base64-json"} {
			b.Run(tr+"/"+form, func(b *testing.B) {
				srv, err := sockhop.New(sockhop.Options{MaxMessageSize: 4 << 20, MaxQueueBytes: 8 << 20, ResumeBytes: 8 << 20})
				if err != nil {
					b.Fatal(err)
				}
				sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v []byte) ([]byte, error) { return v, nil })
				url := serveAt(b, srv, httptest.NewUnstartedServer(nil))
				ctx := context.Background()
				c, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, NoReconnect: true, MaxQueueBytes: 8 << 20})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var v any = payload
				if form == "base64-json" {
					v = json.RawMessage(mustJSON(b, payload)) // a JSON string: the handler's []byte decodes it
				}
				b.SetBytes(2 << 20)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, err := c.EmitWithAck(ctx, "echo", v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func mustJSON(b *testing.B, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// TestBinaryResume: bytes both ways survive a cut transport on every transport, each
// message once and in order, the Go client and the server replaying what the other lacks.
func TestBinaryResume(t *testing.T) {
	t.Parallel()
	forEachTransport(t, func(t *testing.T, tr string) {
		t.Parallel()
		const n = 20
		uploads := make(chan []byte, 2*n)
		url := binaryServer(t, sockhop.Options{}, uploads)
		host, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
		proxy, err := faultproxy.New(host)
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		c := client.New("http://"+proxy.Addr()+"/"+path, client.Options{Transports: []string{tr},
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		blobs := make(chan []byte, 2*n)
		c.On("blob", func(ctx context.Context, _ json.RawMessage) {
			b, _ := client.Bytes(ctx)
			blobs <- b
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first := c.SessionID()
		msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i), 0, '\n'}, 1000) }
		for i := range n {
			if i == n/2 {
				proxy.CutAll()
			}
			if err := c.Emit(ctx, "upload", msg(i)); err != nil {
				t.Fatalf("emit %d: %v", i, err)
			}
			// pull's ack may be lost with the cut: a failed request is not a failed test
			go func() { _, _ = c.EmitWithAck(ctx, "pull", msg(i)) }()
		}
		for i := range n {
			select {
			case b := <-uploads:
				if !bytes.Equal(b, msg(i)) {
					t.Fatalf("upload %d: got message %d", i, b[0])
				}
			case <-ctx.Done():
				t.Fatalf("upload %d did not arrive", i)
			}
		}
		got := make(map[byte]int)
		for range n {
			select {
			case b := <-blobs:
				got[b[0]]++
			case <-ctx.Done():
				t.Fatalf("%d blobs of %d arrived", len(got), n)
			}
		}
		if len(got) != n {
			t.Fatalf("blobs %v: some twice, some never", got)
		}
		reply, err := c.EmitWithAck(ctx, "echo", []byte("ok"))
		if err != nil || string(reply) != `"b2s="` || c.SessionID() != first {
			t.Fatalf("after the cut: %s %v, session %q was %q", reply, err, c.SessionID(), first)
		}
		select {
		case b := <-uploads:
			t.Fatalf("upload %d arrived twice", b[0])
		case b := <-blobs:
			t.Fatalf("blob %d arrived twice", b[0])
		default:
		}
	})
}
