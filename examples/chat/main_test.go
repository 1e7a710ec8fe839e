package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

const wait = 10 * time.Second

// startChat runs the chat server with args (plus an ephemeral -addr) until t ends.
func startChat(t *testing.T, args ...string) serve.Info {
	return serve.StartExample(t, func(ctx context.Context, args []string, stdout io.Writer, ready func(serve.Info)) error {
		return run(ctx, args, strings.NewReader(""), stdout, ready)
	}, args...)
}

// chatter is a Go client in the chat, recording what it receives.
type chatter struct {
	c   *client.Client
	rec *serve.Recorder
}

func dialChat(t *testing.T, url, transport string, hc *http.Client) *chatter {
	t.Helper()
	c, rec := serve.Dial(t, url, transport, hc, "msg", "notice", "rooms", "typing")
	return &chatter{c: c, rec: rec}
}

// request sends name with an ack and decodes the reply into out; it returns the error ack.
func (ch *chatter) request(t *testing.T, name string, v, out any) error {
	t.Helper()
	data, err := serve.Ask(ch.c, name, v)
	if err != nil {
		var e *sockhop.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v", name, err)
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
	return nil
}

func (ch *chatter) join(t *testing.T, room, nick string) joined {
	t.Helper()
	var j joined
	if err := ch.request(t, "join", joinReq{Room: room, Nick: nick}, &j); err != nil {
		t.Fatalf("join %s as %s: %v", room, nick, err)
	}
	return j
}

func (ch *chatter) say(t *testing.T, text string) {
	t.Helper()
	if err := ch.request(t, "say", map[string]string{"text": text}, nil); err != nil {
		t.Fatalf("say: %v", err)
	}
}

func (ch *chatter) waitMsg(t *testing.T, nick, text string) message {
	t.Helper()
	var m message
	e := ch.rec.Wait(t, "msg", wait, func(d json.RawMessage) bool {
		_ = json.Unmarshal(d, &m)
		return m.Nick == nick && m.Text == text
	})
	_ = json.Unmarshal(e.Data, &m)
	return m
}

func (ch *chatter) waitNotice(t *testing.T, kind, nick string) notice {
	t.Helper()
	var n notice
	e := ch.rec.Wait(t, "notice", wait, func(d json.RawMessage) bool {
		n = notice{}
		_ = json.Unmarshal(d, &n)
		return n.Kind == kind && n.Nick == nick
	})
	_ = json.Unmarshal(e.Data, &n)
	return n
}

func errCode(err error) string {
	var e *sockhop.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestChat(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := startChat(t)
		url := serve.SockhopURL(info.URL)
		ann := dialChat(t, url, tr, nil)
		bob := dialChat(t, url, tr, nil)

		if j := ann.join(t, "lobby", "ann"); j.Nick != "ann" || len(j.History) != 0 || strings.Join(j.Members, ",") != "ann" {
			t.Fatalf("ann joined: %+v", j)
		}
		err := bob.request(t, "join", joinReq{Room: "lobby", Nick: "ANN"}, nil)
		if errCode(err) != "nick_taken" || !strings.Contains(err.Error(), "taken") {
			t.Fatalf("duplicate nick: %v, want nick_taken", err)
		}
		if err := bob.request(t, "join", joinReq{Room: "lobby", Nick: "<b>"}, nil); errCode(err) != "bad_nick" {
			t.Fatalf("bad nick: %v, want bad_nick", err)
		}
		j := bob.join(t, "lobby", "bob")
		if strings.Join(j.Members, ",") != "ann,bob" {
			t.Fatalf("members %v", j.Members)
		}
		if n := ann.waitNotice(t, "join", "bob"); strings.Join(n.Members, ",") != "ann,bob" {
			t.Fatalf("join notice %+v", n)
		}

		ann.say(t, "hi <b>bob</b>")
		bob.waitMsg(t, "ann", "hi <b>bob</b>")
		ann.waitMsg(t, "ann", "hi <b>bob</b>")
		bob.say(t, "hello ann")
		ann.waitMsg(t, "bob", "hello ann")

		if err := bob.request(t, "nick", map[string]string{"nick": "Ann"}, nil); errCode(err) != "nick_taken" {
			t.Fatalf("rename onto ann: %v, want nick_taken", err)
		}
		if err := bob.request(t, "nick", map[string]string{"nick": "bobby"}, nil); err != nil {
			t.Fatal(err)
		}
		if n := ann.waitNotice(t, "rename", "bobby"); n.Old != "bob" {
			t.Fatalf("rename notice %+v", n)
		}

		err = ann.request(t, "say", map[string]string{"text": strings.Repeat("é", maxText+1)}, nil)
		if errCode(err) != "too_long" || !strings.Contains(err.Error(), "limit is 500") {
			t.Fatalf("long message: %v, want too_long", err)
		}
		if err := ann.request(t, "say", map[string]string{"text": strings.Repeat("é", maxText)}, nil); err != nil {
			t.Fatalf("message at the limit: %v", err)
		}

		carol := dialChat(t, url, tr, nil)
		j = carol.join(t, "lobby", "carol")
		var texts []string
		for _, m := range j.History {
			texts = append(texts, m.Nick+":"+m.Text)
		}
		if len(texts) != 3 || texts[0] != "ann:hi <b>bob</b>" || texts[1] != "bob:hello ann" {
			t.Fatalf("history for a newcomer: %q", texts)
		}

		bob.join(t, "dev", "")
		ann.waitNotice(t, "leave", "bobby")
		var rooms []roomInfo
		_ = ann.request(t, "rooms", nil, &rooms)
		if len(rooms) != 2 || rooms[0] != (roomInfo{"lobby", 2}) || rooms[1] != (roomInfo{"dev", 1}) {
			t.Fatalf("rooms %+v", rooms)
		}
		_ = carol.c.Close()
		if n := ann.waitNotice(t, "leave", "carol"); strings.Join(n.Members, ",") != "ann" {
			t.Fatalf("leave notice %+v", n)
		}
		if ann.rec.Count("rooms") == 0 {
			t.Error("no room list update")
		}
	})
}

func TestHistoryKeepsLast50(t *testing.T) {
	info := startChat(t)
	ann := dialChat(t, serve.SockhopURL(info.URL), client.WebSocket, nil)
	ann.join(t, "lobby", "ann")
	for i := range 60 {
		ann.say(t, strings.Repeat("x", i+1))
	}
	bob := dialChat(t, serve.SockhopURL(info.URL), client.WebSocket, nil)
	j := bob.join(t, "lobby", "bob")
	if len(j.History) != historySize || len(j.History[0].Text) != 11 || len(j.History[49].Text) != 60 {
		t.Fatalf("history: %d messages, first %q", len(j.History), j.History[0].Text)
	}
}

// syncBuffer is a bytes.Buffer for a writer goroutine and a reading test.
type syncBuffer = testutil.SyncBuffer

func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal output lacks %q:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// terminal runs the terminal client with args, fed by the returned writer.
func terminal(t *testing.T, hc *http.Client, args ...string) (io.WriteCloser, *syncBuffer) {
	t.Helper()
	fs := termFlags{room: defaultRoom, httpClient: hc}
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-connect":
			fs.url = args[i+1]
		case "-nick":
			fs.nick = args[i+1]
		case "-transport":
			fs.transport = args[i+1]
		}
	}
	in, inw := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runTerminal(context.Background(), fs, in, out) }()
	t.Cleanup(func() {
		_ = inw.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("terminal client: %v", err)
			}
		case <-time.After(wait):
			t.Error("terminal client did not stop at EOF")
		}
	})
	return inw, out
}

func TestTerminalClient(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := startChat(t)
		url := serve.SockhopURL(info.URL)
		ann := dialChat(t, url, client.WebSocket, nil)
		ann.join(t, "lobby", "ann")
		in, out := terminal(t, nil, "-connect", url, "-nick", "zoe", "-transport", tr)
		waitOutput(t, out, "* you are zoe in #lobby with 2 here: ann, zoe")
		ann.say(t, "welcome zoe")
		waitOutput(t, out, "[lobby] ann: welcome zoe")
		_, _ = io.WriteString(in, "thanks!\n/nick ann\n/nick zed\n"+strings.Repeat("y", 501)+"\n/join dev\n")
		ann.waitMsg(t, "zoe", "thanks!")
		waitOutput(t, out, `! the nickname "ann" is taken in #lobby`)
		ann.waitNotice(t, "rename", "zed")
		waitOutput(t, out, "* zoe is now known as zed")
		waitOutput(t, out, "! the message has 501 characters; the limit is 500")
		ann.waitNotice(t, "leave", "zed")
		waitOutput(t, out, "* you are zed in #dev with 1 here: zed")
	})
}

// TestSelfSignedTLS runs the chat over https/wss with a certificate made at start, trusted
// by the clients through Options.HTTPClient.
func TestSelfSignedTLS(t *testing.T) {
	out := &syncBuffer{}
	info := serve.StartForTest(t, func(ctx context.Context, ready func(serve.Info)) error {
		return run(ctx, []string{"-addr", "127.0.0.1:0", "-tls-self-signed"}, strings.NewReader(""), out, ready)
	})
	if !strings.HasPrefix(info.URL, "https://") || info.Cert == nil {
		t.Fatalf("not TLS: %+v", info)
	}
	for _, want := range []string{"SHA-256 fingerprint: " + serve.Fingerprint(info.Cert), "--ignore-certificate-errors-spki-list=" + serve.SPKIHash(info.Cert), "--pinnedpubkey 'sha256//"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("startup output lacks %q:\n%s", want, out.String())
		}
	}
	hc := serve.HTTPClient(info.Cert)
	t.Cleanup(hc.CloseIdleConnections)
	url := serve.SockhopURL(info.URL)
	for _, tr := range testutil.Transports {
		ch := dialChat(t, url, tr, hc)
		ch.join(t, "lobby", "tls-"+tr)
		ch.say(t, "over "+tr)
		ch.waitMsg(t, "tls-"+tr, "over "+tr)
	}
	// A client that does not trust the certificate is refused.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if c, err := client.Dial(ctx, url, client.Options{Transports: []string{client.WebSocket}, NoReconnect: true}); err == nil {
		_ = c.Close()
		t.Fatal("an untrusting client connected")
	}
	resp, err := hc.Get(info.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("page: %s", resp.Status)
	}
}

// TestTyping: "typing" reaches the others in the room (volatile), not the typist; a
// message after it reaches everyone, so the typist's own count is known to be final.
func TestTyping(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		info := startChat(t)
		url := serve.SockhopURL(info.URL)
		ann := dialChat(t, url, tr, nil)
		bob := dialChat(t, url, tr, nil)
		ann.join(t, "lobby", "ann")
		bob.join(t, "lobby", "bob")
		ann.waitNotice(t, "join", "bob")
		// Volatile: dropped for a member with no transport at the moment (between two
		// polls); a typist sends it again every few seconds, so does this test.
		for i := 0; i < 50 && ann.rec.Count("typing") == 0; i++ {
			if err := bob.c.Emit(context.Background(), "typing", struct{}{}); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 20 && ann.rec.Count("typing") == 0; j++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		var ty typing
		ann.rec.Wait(t, "typing", wait, func(d json.RawMessage) bool {
			return json.Unmarshal(d, &ty) == nil && ty.Nick == "bob" && ty.Room == "lobby"
		})
		bob.say(t, "typed")
		bob.waitMsg(t, "bob", "typed")
		if n := bob.rec.Count("typing"); n != 0 {
			t.Errorf("the typist got %d typing events of its own", n)
		}
	})
}

// TestRedisTwoProcesses runs two chat servers sharing a real redis-server.
func TestRedisTwoProcesses(t *testing.T) {
	r := testutil.StartRedis(t)
	a := startChat(t, "-redis", r.URL())
	b := startChat(t, "-redis", r.URL())
	ann := dialChat(t, serve.SockhopURL(a.URL), client.WebSocket, nil)
	bob := dialChat(t, serve.SockhopURL(b.URL), client.XHRPolling, nil)
	ann.join(t, "lobby", "ann")
	if err := bob.request(t, "join", joinReq{Room: "lobby", Nick: "ann"}, nil); errCode(err) != "nick_taken" {
		t.Fatalf("nick across nodes: %v, want nick_taken", err)
	}
	ann.say(t, "before bob")
	j := bob.join(t, "lobby", "bob")
	if len(j.History) != 1 || j.History[0].Text != "before bob" || strings.Join(j.Members, ",") != "ann,bob" {
		t.Fatalf("bob joined on node b: %+v", j)
	}
	ann.waitNotice(t, "join", "bob")
	bob.say(t, "from b")
	ann.waitMsg(t, "bob", "from b")
	ann.say(t, "from a")
	bob.waitMsg(t, "ann", "from a")
}

// buildAnnounce builds ./announce once for the test.
func buildAnnounce(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "announce")
	if out, err := exec.Command("go", "build", "-o", bin, "./announce").CombinedOutput(); err != nil {
		t.Fatalf("go build ./announce: %v\n%s", err, out)
	}
	return bin
}

// announce runs the announce command with args and returns its output and error.
func announce(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// TestAnnounce: ./announce posts a durable announcement that a member gets live and a
// newcomer in the room's history: over the HTTP publish endpoint (refused without the
// right key), and through the chat's Redis with a Publisher, from another process.
func TestAnnounce(t *testing.T) {
	bin := buildAnnounce(t)
	check := func(t *testing.T, url string, args ...string) {
		t.Helper()
		ann := dialChat(t, url, client.WebSocket, nil)
		ann.join(t, "lobby", "ann")
		out, err := announce(t, bin, append(args, "-room", "lobby", "maintenance", "at", "18:00")...)
		if err != nil || !strings.Contains(out, "announced in #lobby") {
			t.Fatalf("announce %q: %v\n%s", args, err, out)
		}
		if m := ann.waitMsg(t, "announcement", "maintenance at 18:00"); m.Kind != "announcement" || m.Room != "lobby" {
			t.Fatalf("the announcement arrived as %+v", m)
		}
		bob := dialChat(t, url, client.XHRPolling, nil)
		j := bob.join(t, "lobby", "bob")
		if len(j.History) != 1 || j.History[0].Text != "maintenance at 18:00" || j.History[0].Kind != "announcement" {
			t.Fatalf("a newcomer's history: %+v", j.History)
		}
	}
	t.Run("http", func(t *testing.T) {
		info := startChat(t, "-publish-key", "s3cret")
		url := serve.SockhopURL(info.URL)
		if out, err := announce(t, bin, "-url", url, "-key", "wrong", "hello"); err == nil || !strings.Contains(out, "401") {
			t.Fatalf("a wrong key: %v\n%s", err, out)
		}
		check(t, url, "-url", url, "-key", "s3cret")
	})
	t.Run("redis", func(t *testing.T) {
		r := testutil.StartRedis(t)
		info := startChat(t, "-redis", r.URL())
		check(t, serve.SockhopURL(info.URL), "-redis", r.URL())
	})
}
