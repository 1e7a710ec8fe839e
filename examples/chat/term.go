package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// termFlags configure the terminal client.
type termFlags struct {
	url, nick, room, transport string
	insecure                   bool
	httpClient                 *http.Client // tests: trusts a self-signed certificate
}

// term is the terminal chat client: stdin lines in, chat lines out.
type term struct {
	c    *client.Client
	mu   sync.Mutex // serialises writes to out and guards nick, room
	out  io.Writer
	nick string
	room string
}

func (t *term) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, format+"\n", args...)
}

func (t *term) where() (nick, room string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nick, t.room
}

func (t *term) set(nick, room string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nick, t.room = nick, room
}

func runTerminal(ctx context.Context, f termFlags, stdin io.Reader, stdout io.Writer) error {
	if f.nick == "" {
		return errors.New("-connect needs -nick")
	}
	opts := client.Options{HTTPClient: f.httpClient}
	if f.transport != "" {
		opts.Transports = []string{f.transport}
	}
	if f.insecure && opts.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by -insecure
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	t := &term{out: stdout, nick: f.nick, room: f.room}
	c := client.New(f.url, opts)
	t.c = c
	c.On("msg", func(_ context.Context, data json.RawMessage) {
		var m message
		if json.Unmarshal(data, &m) == nil {
			t.printf("[%s] %s: %s", m.Room, m.Nick, m.Text)
		}
	})
	c.On("notice", func(_ context.Context, data json.RawMessage) {
		var n notice
		if json.Unmarshal(data, &n) == nil {
			t.printf("* %s", noticeText(n))
		}
	})
	c.On("rooms", func(context.Context, json.RawMessage) {}) // the page's live list; /rooms asks

	// Every (re)connect joins again: after a reconnect the server has a new session.
	joins := make(chan struct{}, 1)
	c.OnConnect(func() {
		t.printf("* connected over %s", c.Transport())
		select {
		case joins <- struct{}{}:
		default:
		}
	})
	c.OnDisconnect(func(reason error) {
		t.printf("* disconnected (%v)", reason)
	})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := c.Connect(cctx)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	select { // the first join, before any input is read
	case <-joins:
		t.join(ctx, f.room, f.nick)
	case <-c.Done():
		return c.Err()
	}

	lines := make(chan string)
	readDone := make(chan error, 1)
	go func() { // ends at EOF of stdin (a terminal's Ctrl-D, a closed pipe)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
			}
		}
		close(lines)
		readDone <- sc.Err()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return c.Err()
		case <-joins:
			nick, room := t.where()
			t.join(ctx, room, nick)
		case line, ok := <-lines:
			select { // a reconnect's join goes first
			case <-joins:
				nick, room := t.where()
				t.join(ctx, room, nick)
			default:
			}
			if !ok {
				return <-readDone
			}
			if quit := t.command(ctx, line); quit {
				return nil
			}
		}
	}
}

// command runs one line of input; it reports whether the user asked to quit.
func (t *term) command(ctx context.Context, line string) bool {
	line = strings.TrimSpace(line)
	if line == "" {
		return false
	}
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/quit", "/exit":
		return true
	case "/help":
		t.printf("* commands: /nick NAME, /join ROOM, /rooms, /quit; anything else is said in the room")
	case "/nick":
		var r struct{ Nick string }
		if t.request(ctx, "nick", map[string]string{"nick": arg}, &r) {
			_, room := t.where()
			t.set(r.Nick, room)
		}
	case "/join":
		nick, _ := t.where()
		t.join(ctx, arg, nick)
	case "/rooms":
		var list []roomInfo
		if t.request(ctx, "rooms", nil, &list) {
			for _, r := range list {
				t.printf("* #%s (%d)", r.Name, r.Members)
			}
		}
	default:
		if strings.HasPrefix(cmd, "/") {
			t.printf("! unknown command %s (try /help)", cmd)
			return false
		}
		t.request(ctx, "say", map[string]string{"text": line}, nil)
	}
	return false
}

func (t *term) join(ctx context.Context, room, nick string) {
	var j joined
	if !t.request(ctx, "join", joinReq{Room: room, Nick: nick}, &j) {
		return
	}
	t.set(j.Nick, j.Room)
	for _, m := range j.History {
		t.printf("[%s] %s: %s", m.Room, m.Nick, m.Text)
	}
	t.printf("* you are %s in #%s with %d here: %s", j.Nick, j.Room, len(j.Members), strings.Join(j.Members, ", "))
}

// request sends an event with an ack and prints the error, if any.
func (t *term) request(ctx context.Context, name string, v, reply any) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	data, err := t.c.EmitWithAck(ctx, name, v)
	if err != nil {
		var e *sockhop.Error
		if errors.As(err, &e) {
			t.printf("! %s", e.Message)
		} else {
			t.printf("! %s: %v", name, err)
		}
		return false
	}
	if reply != nil {
		_ = json.Unmarshal(data, reply)
	}
	return true
}

func noticeText(n notice) string {
	switch n.Kind {
	case "join":
		return fmt.Sprintf("%s joined #%s", n.Nick, n.Room)
	case "leave":
		return fmt.Sprintf("%s left #%s", n.Nick, n.Room)
	case "rename":
		return fmt.Sprintf("%s is now known as %s", n.Old, n.Nick)
	}
	return n.Kind + " " + n.Nick
}
