// Command announce posts an announcement to a room of the chat example from another
// process, a cron job say: through the chat's broker with sockhop.NewPublisher (-redis or
// -nats, as the chat's nodes were started), or through a chat server's HTTP publish
// endpoint (-url and -key, the server's -publish-key). The announcement is a durable
// "msg" of the room, as the chat's own messages are: in the history for newcomers, and
// caught up by a page that was away.
//
//	go run ./examples/chat/announce -redis redis://127.0.0.1:6379/0 -room lobby "Maintenance at 18:00"
//	go run ./examples/chat/announce -url http://127.0.0.1:8080/rt -key s3cret "Maintenance at 18:00"
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/nats"
	"github.com/sockhop/sockhop/rooms/redis"
)

// What the chat (examples/chat) uses: its rooms' prefix and history size, its room names,
// its message limit and its "msg" event's data.
const (
	roomPrefix  = "chat:"
	historySize = 50
	maxText     = 500
)

var roomRE = regexp.MustCompile(`^[a-z0-9_-]{1,24}$`)

// message is the chat's "msg" event data.
type message struct {
	ID   string `json:"id"`
	Room string `json:"room"`
	Nick string `json:"nick"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
	Kind string `json:"kind,omitempty"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "announce:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("announce", flag.ContinueOnError)
	fs.SetOutput(stdout)
	redisURL := fs.String("redis", "", "publish through this Redis (the chat nodes' -redis)")
	natsURL := fs.String("nats", "", "publish through this NATS server (the chat nodes' -nats; histories need JetStream)")
	url := fs.String("url", "", "publish through this chat server's HTTP endpoint: its sockhop URL (http://127.0.0.1:8080/rt)")
	key := fs.String("key", os.Getenv("CHAT_PUBLISH_KEY"), "with -url: the server's -publish-key (default $CHAT_PUBLISH_KEY)")
	room := fs.String("room", "lobby", "the chat room")
	from := fs.String("from", "announcement", "the name the announcement shows")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: announce (-redis URL | -nats URL | -url URL -key KEY) [-room ROOM] TEXT...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	text := strings.TrimSpace(strings.Join(fs.Args(), " "))
	n := 0
	for _, v := range []string{*redisURL, *natsURL, *url} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("say where to publish: one of -redis, -nats and -url (see -h)")
	}
	if *url != "" && *key == "" {
		return errors.New("-url needs -key (the server's -publish-key)")
	}
	if !roomRE.MatchString(*room) {
		return fmt.Errorf("bad room %q: 1 to 24 of a-z, 0-9, '_' or '-'", *room)
	}
	if n := utf8.RuneCountInString(text); n == 0 || n > maxText {
		return fmt.Errorf("the announcement has %d characters; 1 to %d", n, maxText)
	}
	m := message{ID: rand.Text()[:12], Room: *room, Nick: *from, Text: text, TS: time.Now().UnixMilli(), Kind: "announcement"}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var pos *rooms.Position
	var err error
	if *url != "" {
		pos, err = postHTTP(ctx, *url, *key, m)
	} else {
		pos, err = publish(ctx, *redisURL, *natsURL, m)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "announced in #%s (id %s", m.Room, m.ID)
	if pos != nil {
		fmt.Fprintf(stdout, ", history position %d", pos.Offset)
	}
	fmt.Fprintln(stdout, ")")
	return nil
}

// publish emits m through the chat's broker, as a node would.
func publish(ctx context.Context, redisURL, natsURL string, m message) (*rooms.Position, error) {
	var a rooms.Adapter
	var err error
	if redisURL != "" {
		a, err = redis.New(redis.Options{URL: redisURL})
	} else {
		a, err = nats.New(nats.Options{URL: natsURL})
	}
	if err != nil {
		return nil, err
	}
	p, err := sockhop.NewPublisher(ctx, sockhop.PublisherOptions{Adapter: a})
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(cctx)
	}()
	// The chat nodes' Channel for its rooms: durable, historySize deep.
	p.Channel(roomPrefix, sockhop.Channel{Class: sockhop.Durable, HistorySize: historySize})
	if err := p.To(roomPrefix+m.Room).Emit(ctx, "msg", m); err != nil {
		return nil, err
	}
	return nil, nil
}

// postHTTP emits m through the publish endpoint of the chat server at url (its sockhop
// mount). The message id is the Idempotency-Key: a request retried (here, or by a proxy)
// is delivered once.
func postHTTP(ctx context.Context, url, key string, m message) (*rooms.Position, error) {
	body, err := json.Marshal(map[string]any{"rooms": []string{roomPrefix + m.Room}, "event": "msg", "data": m, "class": "durable"})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+"/publish", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", m.ID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Pos   *rooms.Position `json:"pos"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusOK {
		if out.Error != nil {
			return nil, fmt.Errorf("%s: %s (%s)", resp.Status, out.Error.Message, out.Error.Code)
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	return out.Pos, nil
}
