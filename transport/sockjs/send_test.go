package sockjs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop/events"
)

// TestSendRetryAfterGiveUp: a client gives up on an xhr_send while the session's reader is
// busy, and the browser sends the same POST again. The frames are handed over exactly once
// and before those of the next xhr_send. (A handler that stopped with the first request
// kept the number, so the retry was dropped as a duplicate and the frames were lost, while
// the next body went through: the server then counted messages the client never sent in
// that order.) It runs in a synctest bubble on an in-memory network, so "gives up" comes
// only once the server is stuck, and the retry only once the server saw the first go.
func TestSendRetryAfterGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := make(chan *Conn, 1)
		h := New(Options{
			MaxMessageSize: 1024,
			WriteTimeout:   time.Second,
			CheckOrigin:    func(*http.Request) bool { return true },
		}, func(c *Conn, _ *http.Request) {
			conns <- c
			<-c.ctx.Done()
		})
		hc := serveMem(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/sockjs"))
		}))
		base := "http://mem/sockjs/000/retrytest/"
		post := func(ctx context.Context, path, body string) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
			if err != nil {
				return 0, err
			}
			req.Header.Set(KeyHeader, testKey)
			res, err := hc.Do(req)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode, nil
		}
		if code, err := post(context.Background(), "xhr?p=1", ""); err != nil || code != 200 {
			t.Fatalf("open poll: %d %v", code, err)
		}
		c := <-conns
		defer c.Close(1000, "done")

		// The first attempt: the reader takes nothing, so the client gives up (the bubble's
		// clock moves only once the server is stuck handing the frame over).
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := post(ctx, "xhr_send?s=1", `["first"]`)
		cancel()
		if err == nil {
			t.Fatal("the first xhr_send returned while nobody read its frame")
		}
		synctest.Wait() // the server has seen the client go
		retry := make(chan int, 1)
		go func() {
			code, err := post(context.Background(), "xhr_send?s=1", `["first"]`)
			if err != nil {
				t.Errorf("retry: %v", err)
			}
			retry <- code
		}()
		next := make(chan int, 1)
		got := make(chan string, 4)
		go func() {
			for {
				f, err := c.ReadFrame()
				if err != nil {
					close(got)
					return
				}
				got <- string(f)
			}
		}()
		if f := <-got; f != "first" {
			t.Fatalf("first frame read: %q, want \"first\"", f)
		}
		if code := <-retry; code != http.StatusNoContent {
			t.Fatalf("retry answered %d, want 204", code)
		}
		go func() {
			code, err := post(context.Background(), "xhr_send?s=2", `["second"]`)
			if err != nil {
				t.Errorf("second: %v", err)
			}
			next <- code
		}()
		if f := <-got; f != "second" {
			t.Fatalf("second frame read: %q, want \"second\" (the retry was handed over twice)", f)
		}
		if code := <-next; code != http.StatusNoContent {
			t.Fatalf("second xhr_send answered %d, want 204", code)
		}
	})
}

func TestParseSend(t *testing.T) {
	tests := []struct {
		body   string
		tooBig bool
		status int
		code   int
		frames int
	}{
		{body: `["a","b\nc"]`, frames: 2},
		{body: `[]`, frames: 0},
		{body: ``, status: http.StatusBadRequest},
		{body: `   `, status: http.StatusBadRequest},
		{body: `{"a":1}`, status: http.StatusBadRequest, code: events.CloseProtocolError},
		{body: `[1]`, status: http.StatusBadRequest, code: events.CloseProtocolError},
		{body: `["unterminated`, status: http.StatusBadRequest, code: events.CloseProtocolError},
		{body: "[\"\xff\"]", status: http.StatusBadRequest, code: events.CloseInvalidPayload},
		{body: `["` + strings.Repeat("x", 11) + `"]`, status: http.StatusRequestEntityTooLarge, code: events.CloseTooBig},
		{tooBig: true, status: http.StatusRequestEntityTooLarge, code: events.CloseTooBig},
	}
	for _, tc := range tests {
		frames, bad := parseSend([]byte(tc.body), tc.tooBig, 10)
		switch {
		case tc.status == 0 && bad != nil:
			t.Errorf("%q: refused %+v", tc.body, bad)
		case tc.status == 0 && len(frames) != tc.frames:
			t.Errorf("%q: %d frames, want %d", tc.body, len(frames), tc.frames)
		case tc.status != 0 && (bad == nil || bad.status != tc.status || bad.Code != tc.code):
			t.Errorf("%q: %+v, want status %d code %d", tc.body, bad, tc.status, tc.code)
		}
	}
}

// FuzzParseSend checks that any xhr_send body is accepted as valid frames within the
// limit or refused with a status, never a panic; and that it is decoded exactly as
// encoding/json decodes a []string: the same bodies accepted, the same frames.
func FuzzParseSend(f *testing.F) {
	for _, s := range []string{`["{\"t\":\"hello\",\"v\":1}"]`, `[]`, `["a","b"]`, `{`, `["\u0000"]`, "[\"\\ud800\"]",
		`null`, ` [ null , "x" ] `, `["\ud83d\ude00", "\ud83d\u0041", "\ude00\ud83d"]`, `["\/\b\f\n\r\t\\"]`, `["\'"]`,
		`["a",]`, `[,"a"]`, `["a"] x`, `["a"`, `["\u12"]`, `["\uD834\uDD1E"]`, "[\"\t\"]", `["é€😀"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		frames, bad := parseSend(body, false, 64)
		var strs []string
		jerr := json.Unmarshal(body, &strs)
		if bad != nil {
			if bad.status < 400 || bad.status > 499 {
				t.Fatalf("status %d", bad.status)
			}
			if bad.Code == events.CloseProtocolError && jerr == nil {
				t.Fatalf("refused %q, which encoding/json decodes", body)
			}
			return
		}
		if jerr != nil || len(strs) != len(frames) {
			t.Fatalf("accepted %q: %v", body, jerr)
		}
		for i, fr := range frames {
			if len(fr) > 64 || !events.ValidUTF8(fr) {
				t.Fatalf("accepted a bad frame %q", fr)
			}
			if string(fr) != strs[i] {
				t.Fatalf("%q: frame %d is %q, encoding/json says %q", body, i, fr, strs[i])
			}
		}
	})
}

// BenchmarkParseSend parses a typical xhr_send body: one request envelope, escaped.
func BenchmarkParseSend(b *testing.B) {
	body := []byte(`["{\"t\":\"req\",\"n\":\"echo\",\"d\":{\"s\":\"hello, world\",\"n\":12345},\"id\":42}"]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, bad := parseSend(body, false, 1<<16); bad != nil {
			b.Fatal(bad)
		}
	}
}

// sendServer serves a Handler with opts (defaults for the tests where zero) on an
// in-memory network, and returns its client and a function that opens a session by a
// first poll and returns its Conn and its URL. Call it in a synctest bubble.
func sendServer(t *testing.T, opts Options) (*http.Client, func(id string) (*Conn, string)) {
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = 1024
	}
	opts.WriteTimeout = time.Second
	opts.CheckOrigin = func(*http.Request) bool { return true }
	conns := make(chan *Conn, 1)
	h := New(opts, func(c *Conn, _ *http.Request) {
		conns <- c
		<-c.ctx.Done()
	})
	hc := &http.Client{Transport: keyed{serveMem(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/sockjs"))
	})).Transport}}
	return hc, func(id string) (*Conn, string) {
		base := "http://mem/sockjs/000/" + id + "/"
		res, err := hc.Post(base+"xhr?p=1", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		c := <-conns
		t.Cleanup(func() { c.Close(1000, "done") })
		return c, base
	}
}

// keyed sends testKey as the session key of every request that has none of its own.
type keyed struct{ rt http.RoundTripper }

func (k keyed) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(KeyHeader) == "" {
		r = r.Clone(r.Context())
		r.Header.Set(KeyHeader, testKey)
	}
	return k.rt.RoundTrip(r)
}

func (k keyed) CloseIdleConnections() {
	if c, ok := k.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// answer is how an xhr_send was answered, and when.
type answer struct {
	status     int
	retryAfter string
	at         time.Duration
	err        error
}

// postSend posts body to base's xhr_send and reports the answer on the returned channel.
func postSend(hc *http.Client, base string, body io.Reader) <-chan answer {
	ch := make(chan answer, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"xhr_send", body)
		res, err := hc.Do(req)
		if err != nil {
			ch <- answer{err: err, at: time.Since(start)}
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		ch <- answer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), at: time.Since(start)}
	}()
	return ch
}

// slowBody is a request body of which only its first byte arrives until finish is called.
func slowBody() (body io.Reader, finish func(rest string)) {
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("[")) }()
	return pr, func(rest string) {
		go func() {
			_, _ = pw.Write([]byte(rest))
			_ = pw.Close()
		}()
	}
}

// TestSendSlowBody: an xhr_send body that does not arrive within SendTimeout is answered
// 408 at that instant, and its transport is closed (its frames were not taken: the client
// resumes and sends them again). Before, the server waited for it as long as the client
// liked.
func TestSendSlowBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc, open := sendServer(t, Options{SendTimeout: 3 * time.Second})
		c, base := open("slowbody")
		body, finish := slowBody()
		defer finish("")
		a := <-postSend(hc, base, body)
		if a.err != nil || a.status != http.StatusRequestTimeout || a.at != 3*time.Second {
			t.Fatalf("slow body: %+v, want 408 after 3s", a)
		}
		if _, err := c.ReadFrame(); err == nil {
			t.Fatal("the transport of a slow body is still open")
		}
	})
}

// TestSendOneInFlight: a session has one xhr_send body in flight at most. The next waits
// up to sendWait for it and is then refused with 429 and Retry-After; any more are refused
// at once; none of them has its body read. Once the body in flight is through, the next
// one goes. (Before, every request read its body at once: 200 unfinished bodies on one
// session were all held.)
func TestSendOneInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc, open := sendServer(t, Options{})
		c, base := open("oneinflight")
		frames := make(chan string, 4)
		go func() {
			for {
				f, err := c.ReadFrame()
				if err != nil {
					return
				}
				frames <- string(f)
			}
		}()
		body, finish := slowBody()
		first := postSend(hc, base, body)
		synctest.Wait() // the server reads the first body
		// The others' bodies are slow too: a refusal must not wait for what is left of
		// them (net/http reads it before answering, unless the connection is to close).
		body2, finish2 := slowBody()
		defer finish2("")
		waiting := postSend(hc, base, body2)
		synctest.Wait()
		var refused []<-chan answer
		for range 198 {
			body, finish := slowBody()
			defer finish("")
			refused = append(refused, postSend(hc, base, body))
		}
		for i, ch := range refused {
			if a := <-ch; a.err != nil || a.status != http.StatusTooManyRequests || a.retryAfter != "1" || a.at != 0 {
				t.Fatalf("xhr_send %d while one is in flight and one waits: %+v, want 429 at once, Retry-After 1", i+3, a)
			}
		}
		if a := <-waiting; a.err != nil || a.status != http.StatusTooManyRequests || a.retryAfter != "1" || a.at != sendWait {
			t.Fatalf("xhr_send while one is in flight: %+v, want 429 after %v, Retry-After 1", a, sendWait)
		}
		finish(`"first"]`)
		if a := <-first; a.err != nil || a.status != http.StatusNoContent {
			t.Fatalf("the body in flight: %+v, want 204", a)
		}
		if a := <-postSend(hc, base, strings.NewReader(`["next"]`)); a.err != nil || a.status != http.StatusNoContent {
			t.Fatalf("the next xhr_send: %+v, want 204", a)
		}
		for _, want := range []string{"first", "next"} {
			if f := <-frames; f != want {
				t.Fatalf("frame %q, want %q", f, want)
			}
		}
	})
}
