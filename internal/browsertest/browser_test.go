package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestTransports forces each transport in turn: connect, events both ways, acks both ways,
// error acks, and 1,000 ordered messages each way.
func TestTransports(t *testing.T) {
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, name string) {
		a := newApp(t, sockhop.Options{}, "")
		tab := br.Open(t, "test", a.ts.URL+"/", browser.Viewport{})
		c := connect(t, tab, map[string]any{"transports": []string{name}})
		t.Logf("%s: connected in %d ms", name, c.MS)

		// Acks: a reply, an application error, an unknown event.
		var echo any
		tab.Eval(`s.emitWithAck('echo', {text: 'héllo', n: [1, 2]})`, &echo)
		if want := map[string]any{"text": "héllo", "n": []any{1.0, 2.0}}; fmt.Sprint(echo) != fmt.Sprint(want) {
			t.Errorf("echo = %v, want %v", echo, want)
		}
		var codes []string
		tab.Eval(`Promise.all(['fail', 'nosuch'].map((n) => s.emitWithAck(n, 1).then(() => 'resolved', (e) => e.code)))`, &codes)
		if !slices.Equal(codes, []string{"nope", "unknown_event"}) {
			t.Errorf("error ack codes = %v, want [nope unknown_event]", codes)
		}

		// Server to client with an ack: the page's 'double' handler answers.
		sess := a.srv.Session(c.ID)
		if sess == nil {
			t.Fatalf("no server session %q", c.ID)
		}
		if got := sess.Transport(); got != name {
			t.Errorf("server says transport %q, want %q", got, name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		raw, err := sess.EmitWithAck(ctx, "double", 21)
		if err != nil || string(raw) != "42" {
			t.Errorf("EmitWithAck(double, 21) = %s, %v; want 42", raw, err)
		}

		// 1,000 ordered messages client -> server; the ack of the last proves all handled.
		tab.Eval(`(async () => { for (let i = 0; i < 1000; i++) s.emit('seq', i); return s.emitWithAck('echo', 'done'); })()`, nil)
		if got := a.seqs(); !isSeq(got, 0, 1000) {
			t.Errorf("server got %d seq events, out of order or lost: %v", len(got), head(got))
		}

		// 1,000 ordered messages server -> client, emitted from a handler.
		var ticks []int
		tab.Eval(`s.emit('burst', 1000)`, nil)
		tab.Eval(`T.until(() => (T.got.tick || []).length >= 1000).then(() => T.got.tick)`, &ticks)
		if !isSeq(ticks, 0, 1000) {
			t.Errorf("client got %d ticks, out of order or lost: %v", len(ticks), head(ticks))
		}

		// 1,000 bigger messages (250 KB): an xhr-streaming response ends after 128 KiB and
		// the client reopens it without losing or reordering anything.
		var bulk struct {
			Order   bool `json:"order"`
			N       int  `json:"n"`
			Streams int  `json:"streams"`
		}
		tab.Eval(`s.emit('bulk', 1000)`, nil)
		tab.Eval(`T.until(() => (T.got.note || []).length >= 1000).then(() => ({
			n: T.got.note.length, order: T.got.note.every((d, i) => d.i === i),
			streams: performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.endsWith('/xhr_streaming')).length,
		}))`, &bulk)

		if bulk.N != 1000 || !bulk.Order {
			t.Errorf("bulk: %d notes, in order %v", bulk.N, bulk.Order)
		}
		if name == "xhr-streaming" {
			t.Logf("xhr-streaming: %d stream responses ended and were reopened", bulk.Streams)
		}
		if name == "xhr-streaming" && bulk.Streams < 1 {
			t.Errorf("no xhr_streaming response ended after 250 KB: the server did not end it or the client did not reopen")
		}

		// Close from the client: the server sees the session end.
		tab.Eval(`s.close()`, nil)
		deadline := time.Now().Add(10 * time.Second)
		for a.srv.SessionCount() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := a.srv.SessionCount(); n != 0 {
			t.Errorf("%d sessions left after the client closed", n)
		}
	})
}

// TestXHRFallback runs the SockJS transports over XMLHttpRequest, for browsers without
// fetch() streaming.
func TestXHRFallback(t *testing.T) {
	br := browser.Start(t)
	for _, name := range testutil.Transports[1:] {
		t.Run(name, func(t *testing.T) {
			a := newApp(t, sockhop.Options{}, "")
			tab := br.Open(t, "test", a.ts.URL+"/?nofetch", browser.Viewport{})
			connect(t, tab, map[string]any{"transports": []string{name}})
			var ticks []int
			tab.Eval(`(async () => { for (let i = 0; i < 300; i++) s.emit('seq', i); s.emit('burst', 300); return s.emitWithAck('echo', 1); })()`, nil)
			tab.Eval(`T.until(() => (T.got.tick || []).length >= 300).then(() => T.got.tick)`, &ticks)
			if got := a.seqs(); !isSeq(got, 0, 300) {
				t.Errorf("server got %d seq events, out of order or lost: %v", len(got), head(got))
			}
			if !isSeq(ticks, 0, 300) {
				t.Errorf("client got %d ticks, out of order or lost: %v", len(ticks), head(ticks))
			}
			var fetchless bool
			tab.Eval(`typeof fetch === 'undefined'`, &fetchless)
			if !fetchless {
				t.Error("the page still has fetch()")
			}
			tab.Eval(`s.close()`, nil)
		})
	}
}

// TestLadder checks that the client gets through each kind of hostile network, and how
// long it takes (printed; bounded only generously).
func TestLadder(t *testing.T) {
	br := browser.Start(t)
	cases := []struct {
		name  string
		opts  sockhop.Options
		proxy *proxyMode
		want  string
		// also is a transport that may win instead: the ladder races the next rung beside
		// a late one (happy eyeballs), and on a loaded machine xhr-streaming's hello can
		// take longer than xhr-polling's whole start, which began ~300 ms after it.
		also string
		max  time.Duration
	}{
		{name: "websocket", want: "websocket", max: 10 * time.Second},
		{name: "refused upgrade", opts: sockhop.Options{DisableWebSocket: true}, want: "xhr-streaming", max: 10 * time.Second},
		{name: "stripped upgrade", proxy: ptr(stripUpgrade), want: "xhr-streaming", max: 10 * time.Second},
		{name: "stalled upgrade", proxy: ptr(stallUpgrade), want: "xhr-streaming", also: "xhr-polling", max: 15 * time.Second},
		{name: "buffering proxy", proxy: ptr(bufferAll), want: "xhr-polling", max: 15 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tc.opts, "")
			url := a.ts.URL
			if tc.proxy != nil {
				url = newProxy(t, a.ts.URL, *tc.proxy).ts.URL
			}
			tab := br.Open(t, "test", url+"/", browser.Viewport{})
			var c connected
			tab.Eval(`T.start()`, &c)
			t.Logf("time-to-connected %-17s %5d ms on %s", tc.name+":", c.MS, c.Transport)
			if c.Transport != tc.want && (tc.also == "" || c.Transport != tc.also) {
				t.Errorf("connected on %s, want %s\n%s", c.Transport, tc.want, tab.LogText())
			}
			if time.Duration(c.MS)*time.Millisecond > tc.max {
				t.Errorf("took %d ms to connect, over the generous bound %v", c.MS, tc.max)
			}
			var first int
			tab.Eval(`wsTries`, &first)
			if first != 1 {
				t.Errorf("%d WebSocket attempts on the first load, want 1", first)
			}
			var echo string
			tab.Eval(`s.emitWithAck('echo', 'through')`, &echo)
			if echo != "through" {
				t.Errorf("echo = %q", echo)
			}

			// The next page load goes straight to the transport that worked.
			tab.Goto(url + "/")
			var again connected
			tab.Eval(`T.start()`, &again)
			t.Logf("time-to-connected %-17s %5d ms on %s (remembered)", tc.name+":", again.MS, again.Transport)
			if again.Transport != c.Transport {
				t.Errorf("after reload: connected on %s, want %s (the transport that worked)", again.Transport, c.Transport)
			}
			var tries int
			tab.Eval(`wsTries`, &tries)
			if want := map[bool]int{true: 1, false: 0}[tc.want == "websocket"]; tries != want {
				t.Errorf("after reload: %d WebSocket attempts, want %d (the remembered transport goes first)", tries, want)
			}
			tab.Eval(`s.close()`, nil)
		})
	}
}

// TestReconnectAfterRestart restarts the server on the same port: the client gets the
// going-away close, reconnects when the server is back, and works again.
func TestReconnectAfterRestart(t *testing.T) {
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, name string) {
		opts := sockhop.Options{ShutdownRetry: 300 * time.Millisecond}
		a := newApp(t, opts, "")
		addr := a.ts.Listener.Addr().String()
		tab := br.Open(t, "test", a.ts.URL+"/", browser.Viewport{})
		connect(t, tab, map[string]any{"transports": []string{name}, "backoffMax": 1000})

		a.stop()
		var downs int
		tab.Eval(`T.until(() => T.count('disconnect') >= 1).then(() => T.count('disconnect'))`, &downs)
		time.Sleep(700 * time.Millisecond) // the server stays away for a while
		a2 := newApp(t, opts, addr)

		var info struct {
			Connects     int    `json:"connects"`
			Reconnecting int    `json:"reconnecting"`
			Disconnect   []any  `json:"disconnect"`
			Transport    string `json:"transport"`
			Echo         string `json:"echo"`
		}
		tab.Eval(`T.until(() => T.count('connect') >= 2 && s.state === 'connected').then(async () => ({
			connects: T.count('connect'), reconnecting: T.count('reconnecting'),
			disconnect: T.log.find((e) => e[0] === 'disconnect'), transport: s.transport,
			echo: await s.emitWithAck('echo', 'back'),
		}))`, &info)

		t.Logf("%s: disconnect %v, %d reconnect attempts", name, info.Disconnect, info.Reconnecting)
		if info.Echo != "back" || info.Transport != name {
			t.Errorf("after restart: echo %q on %s", info.Echo, info.Transport)
		}
		if len(info.Disconnect) < 3 {
			t.Fatalf("disconnect event %v", info.Disconnect)
		}
		if d, _ := info.Disconnect[2].(map[string]any); d["code"] != 1001.0 || d["reconnect"] != true {
			t.Errorf("disconnect = %v, want code 1001 with reconnect", d)
		}
		if a2.srv.SessionCount() != 1 {
			t.Errorf("restarted server has %d sessions, want 1", a2.srv.SessionCount())
		}
		tab.Eval(`s.close()`, nil)
	})
}

// TestDeadServer freezes the connection (bytes swallowed, nothing closed): the client hears
// no frame for ping+pong ms, declares the server dead and reconnects on a new connection.
func TestDeadServer(t *testing.T) {
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, name string) {
		a := newApp(t, sockhop.Options{
			PingInterval:          300 * time.Millisecond,
			PongTimeout:           300 * time.Millisecond,
			SockJSDisconnectDelay: time.Second,
		}, "")
		a.shutdownSlowOK = true
		p := newTCPProxy(t, a.ts.Listener.Addr().String())
		tab := br.Open(t, "test", "http://"+p.addr()+"/", browser.Viewport{})
		connect(t, tab, map[string]any{"transports": []string{name}, "backoffMin": 100})
		p.freeze()
		var info struct {
			Disconnect []any  `json:"disconnect"`
			Echo       string `json:"echo"`
		}
		tab.Eval(`T.until(() => T.count('connect') >= 2 && s.state === 'connected').then(async () => ({
			disconnect: T.log.find((e) => e[0] === 'disconnect'),
			echo: await s.emitWithAck('echo', 'alive'),
		}))`, &info)

		t.Logf("%s: %v", name, info.Disconnect)
		if len(info.Disconnect) < 3 {
			t.Fatalf("disconnect event %v", info.Disconnect)
		}
		if d, _ := info.Disconnect[2].(map[string]any); d["code"] != 4001.0 {
			t.Errorf("disconnect = %v, want code 4001 (heartbeat timeout)", d)
		}
		if info.Echo != "alive" {
			t.Errorf("echo after reconnect = %q", info.Echo)
		}
		tab.Eval(`s.close()`, nil)
	})
}

// TestOfflineQueue takes the browser offline: emits are queued, and sent in order once
// the network is back.
func TestOfflineQueue(t *testing.T) {
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, name string) {
		a := newApp(t, sockhop.Options{}, "")
		tab := br.Open(t, "test", a.ts.URL+"/", browser.Viewport{})
		connect(t, tab, map[string]any{"transports": []string{name}})
		tab.Eval(`(async () => { for (let i = 0; i < 50; i++) s.emit('seq', i); return s.emitWithAck('echo', 1); })()`, nil)

		tab.Offline(true)
		var state string
		tab.Eval(`T.until(() => s.state !== 'connected').then(() => {
			for (let i = 50; i < 250; i++) s.emit('seq', i);
			return s.state;
		})`, &state)

		if state != "disconnected" {
			t.Errorf("state while offline = %q, want disconnected", state)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(a.seqs()); n != 50 {
			t.Errorf("server got %d seq events while the browser was offline, want 50", n)
		}
		tab.Offline(false)
		tab.Eval(`T.until(() => s.state === 'connected').then(() => s.emitWithAck('echo', 2))`, nil)
		if got := a.seqs(); !isSeq(got, 0, 250) {
			t.Errorf("server got %d seq events, out of order or lost: %v", len(got), head(got))
		}
		tab.Eval(`s.close()`, nil)
	})
}

func isSeq(v []int, from, n int) bool {
	if len(v) != n {
		return false
	}
	for i, x := range v {
		if x != from+i {
			return false
		}
	}
	return true
}

func head(v []int) string {
	if len(v) > 20 {
		b, _ := json.Marshal(v[:20])
		return string(b) + "..."
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func ptr[T any](v T) *T { return &v }

// TestConnectRefused: past its address's connection rate the server refuses a new session
// with a retry hint (1013 with retry on WebSocket, 429 with Retry-After on SockJS). The
// page's second client waits as long as asked, without trying the transports below.
func TestConnectRefused(t *testing.T) {
	br := browser.Start(t)
	for i, name := range testutil.Transports {
		t.Run(name, func(t *testing.T) {
			// A turn every 100 s: the first client takes the only one.
			a := newApp(t, sockhop.Options{ConnectRate: 0.01, ConnectBurst: 1}, "")
			tab := br.Open(t, "test", a.ts.URL+"/", browser.Viewport{})
			connect(t, tab, map[string]any{"transports": []string{name}})
			var got struct {
				Attempt int      `json:"attempt"`
				Delay   int      `json:"delay"`
				State   string   `json:"state"`
				WS      int      `json:"ws"`
				HTTP    []string `json:"http"`
			}
			ladder, _ := json.Marshal(testutil.Transports[i:]) // from this transport down
			tab.Eval(`new Promise((res) => {
				const ws0 = window.wsTries, t0 = performance.now();
				const s2 = window.s2 = sockhop.connect('/rt', {transports: `+string(ladder)+`});
				s2.on('reconnecting', (n, d) => setTimeout(() => res({
					attempt: n, delay: d, state: s2.state, ws: window.wsTries - ws0,
					http: performance.getEntriesByType('resource').filter((e) => e.startTime >= t0 && /\/xhr(_streaming)?\?/.test(e.name))
						.map((e) => e.name.replace(/^.*\/(xhr(_streaming)?)\?.*$/, '$1')),
				}), 300));
			})`, &got)

			t.Logf("%s: %+v", name, got)
			if got.Attempt != 1 || got.Delay < 90_000 || got.State != "disconnected" {
				t.Errorf("reconnecting: attempt %d after %d ms (%s), want attempt 1 after the server's hint of about 100 s", got.Attempt, got.Delay, got.State)
			}
			wantWS, wantHTTP := 0, []string{}
			switch name {
			case "websocket":
				wantWS = 1
			case "xhr-streaming":
				wantHTTP = []string{"xhr_streaming"}
			case "xhr-polling":
				wantHTTP = []string{"xhr"}
			}
			// The server holds a connection it refuses for a second before it answers, so
			// the ladder, finding the transport late, may have started the ones below it
			// beside it (happy eyeballs), each once; after the refusal it goes no further.
			if got.WS != wantWS || len(got.HTTP) < len(wantHTTP) || !slices.Equal(got.HTTP[:len(wantHTTP)], wantHTTP) || !slices.Equal(slices.Compact(slices.Clone(got.HTTP)), got.HTTP) {
				t.Errorf("tried %d WebSockets and %v, want %d and %v (then at most each transport below once): a refusal is not a broken transport", got.WS, got.HTTP, wantWS, wantHTTP)
			}
			tab.Eval(`s2.close(), s.close()`, nil)
		})
	}
}
