package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/testutil"
)

// TestChatExample runs the real examples/chat as three nodes (-redis, and the default
// -advertise) behind the round-robin nginx: chatters on the HTTP fallbacks, whose every
// request may reach any node, and on WebSocket talk across the nodes, each line once and
// in order.
func TestChatExample(t *testing.T) {
	nginx := needNginx(t)
	r := testutil.StartRedis(t)
	bin := program(t, "chat")
	var backends []string
	var procs []*process
	for i := range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := startProcess(t, fmt.Sprintf("chat%d", i), bin, "-addr", addr, "-redis", r.URL())
		p.waitOutput(t, "listening on", 15*time.Second)
		if out := p.out.String(); !strings.Contains(out, "advertising http://"+addr) {
			t.Fatalf("chat -addr %s -redis: the default -advertise is not http://%s:\n%s", addr, addr, out)
		}
		backends, procs = append(backends, addr), append(procs, p)
	}
	lb := startNginx(t, nginx, backends)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Logf("--- %s:\n%s", p.name, tail([]byte(p.out.String()), 4000))
			}
			t.Log(lb.logs())
		}
	})

	type chatter struct {
		*client.Client
		nick string
		mu   sync.Mutex
		got  []string // "nick: text", guarded by mu
	}
	const lines = 30
	var cs []*chatter
	for i, tr := range testutil.Transports {
		ch := &chatter{nick: fmt.Sprintf("%s%d", strings.ReplaceAll(tr, "-", ""), i)}
		ch.Client = client.New(lb.url+"/rt", client.Options{Transports: []string{tr}})
		ch.On("msg", func(_ context.Context, data json.RawMessage) {
			var m struct{ Nick, Text string }
			_ = json.Unmarshal(data, &m)
			ch.mu.Lock()
			ch.got = append(ch.got, m.Nick+": "+m.Text)
			ch.mu.Unlock()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := ch.Connect(ctx)
		if err == nil {
			t.Cleanup(func() { _ = ch.Close() })
			_, err = ch.EmitWithAck(ctx, "join", map[string]string{"room": "lobby", "nick": ch.nick})
		}
		cancel()
		if err != nil {
			t.Fatalf("%s on %s: %v", ch.nick, tr, err)
		}
		cs = append(cs, ch)
	}
	// Everyone says 30 lines, one after the other, all at once.
	var wg sync.WaitGroup
	for _, ch := range cs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range lines {
				if _, err := ch.EmitWithAck(ctx, "say", map[string]string{"text": fmt.Sprint(i)}); err != nil {
					t.Errorf("%s: say %d: %v", ch.nick, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, 15*time.Second, "every chatter to get every line", func() (bool, string) {
		for _, ch := range cs {
			ch.mu.Lock()
			n := len(ch.got)
			ch.mu.Unlock()
			if n < lines*len(cs) {
				return false, fmt.Sprintf("%s got %d of %d", ch.nick, n, lines*len(cs))
			}
		}
		return true, ""
	})
	for _, ch := range cs {
		ch.mu.Lock()
		for _, from := range cs {
			var want, got []string
			for i := range lines {
				want = append(want, fmt.Sprintf("%s: %d", from.nick, i))
			}
			for _, line := range ch.got {
				if strings.HasPrefix(line, from.nick+": ") {
					got = append(got, line)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s got from %s: %q, want %q", ch.nick, from.nick, got, want)
			}
		}
		ch.mu.Unlock()
	}
}
