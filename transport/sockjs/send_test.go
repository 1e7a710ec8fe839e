package sockjs

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSendRetryAfterGiveUp: a client gives up on an xhr_send while the session's reader is
// busy, and the browser sends the same POST again. The frames are handed over exactly once
// and before those of the next xhr_send. (A handler that stopped with the first request
// kept the number, so the retry was dropped as a duplicate and the frames were lost, while
// the next body went through: the server then counted messages the client never sent in
// that order.)
func TestSendRetryAfterGiveUp(t *testing.T) {
	conns := make(chan *Conn, 1)
	h := New(Options{
		MaxMessageSize: 1024,
		WriteTimeout:   time.Second,
		CheckOrigin:    func(*http.Request) bool { return true },
	}, func(c *Conn, _ *http.Request) {
		conns <- c
		<-c.ctx.Done()
	})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Serve(w, r, strings.TrimPrefix(r.URL.Path, "/sockjs"))
	}))
	defer ts.Close()
	base := ts.URL + "/sockjs/000/retrytest/"
	post := func(ctx context.Context, path, body string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		res, err := http.DefaultClient.Do(req)
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

	// The first attempt: the reader takes nothing, so the client gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := post(ctx, "xhr_send?s=1", `["first"]`)
	cancel()
	if err == nil {
		t.Fatal("the first xhr_send returned while nobody read its frame")
	}
	time.Sleep(100 * time.Millisecond) // let the server notice the client has gone
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
}
