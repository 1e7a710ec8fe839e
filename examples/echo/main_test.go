package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/serve"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func startEcho(t *testing.T) string {
	return serve.SockhopURL(serve.StartExample(t, run).URL)
}

func dial(t *testing.T, url, transport string) (*client.Client, *serve.Recorder) {
	return serve.Dial(t, url, transport, nil, "b")
}

func TestEndpoints(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		c, _ := dial(t, startEcho(t), tr)
		cases := []struct {
			name string
			in   any
			want string
		}{
			{"echo", "hi", `"hi"`},
			{"echo", map[string]any{"a": []int{1, 2}}, `{"a":[1,2]}`},
			{"echo", nil, `null`},
			{"foo", "hi", `"foo: hi"`},
			{"bar", "hi", `"bar: hi"`},
			{"foo", 42, `"foo: 42"`},
		}
		for _, tc := range cases {
			got, err := serve.Ask(c, tc.name, tc.in)
			if err != nil || string(got) != tc.want {
				t.Errorf("%s(%v) = %s, %v; want %s", tc.name, tc.in, got, err, tc.want)
			}
		}
		before := time.Now().UnixNano()
		got, err := serve.Ask(c, "rtt", 7)
		var r rttReply
		if err != nil || json.Unmarshal(got, &r) != nil || r.T < before || r.T > time.Now().UnixNano() || string(r.C) != "7" {
			t.Errorf("rtt = %s, %v", got, err)
		}
		_, err = serve.Ask(c, "nope", 1)
		var e *sockhop.Error
		if !errors.As(err, &e) || e.Code != sockhop.CodeUnknownEvent {
			t.Errorf("unknown event: %v", err)
		}
	})
}

// TestBenchProtocol checks what `make bench` relies on: join (ack), echo (ack with the same
// payload), bcast {room, m, s} -> m events "b" of s bytes to the room's members.
func TestBenchProtocol(t *testing.T) {
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		url := startEcho(t)
		a, arec := dial(t, url, tr)
		b, brec := dial(t, url, tr)
		outsider, orec := dial(t, url, tr)
		for _, c := range []*client.Client{a, b} {
			if got, err := serve.Ask(c, "join", "bench"); err != nil || len(got) != 0 && string(got) != "null" {
				t.Fatalf("join = %s, %v", got, err)
			}
		}
		if _, err := serve.Ask(outsider, "join", ""); err == nil {
			t.Error("join without a room succeeded")
		}
		big := strings.Repeat("z", 4000)
		if got, err := serve.Ask(a, "echo", big); err != nil || string(got) != `"`+big+`"` {
			t.Fatalf("echo of 4000 bytes: %d bytes, %v", len(got), err)
		}
		got, err := serve.Ask(a, "bcast", bcastReq{Room: "bench", M: 100, S: 256})
		if err != nil || string(got) != `{"sent":100}` {
			t.Fatalf("bcast = %s, %v", got, err)
		}
		for _, rec := range []*serve.Recorder{arec, brec} {
			for i := range 100 {
				e := rec.Wait(t, "b", 10*time.Second, nil)
				var s string
				if json.Unmarshal(e.Data, &s) != nil || len(s) != 256 {
					t.Fatalf("event %d: %d bytes", i, len(e.Data))
				}
			}
		}
		if _, err := serve.Ask(a, "bcast", bcastReq{Room: "bench", M: maxBcastCount + 1, S: 1}); err == nil {
			t.Error("an oversized bcast was accepted")
		}
		if n := orec.Count("b"); n != 0 {
			t.Errorf("a session outside the room got %d events", n)
		}
	})
}

// TestRTTLoad puts the load of README.md's rtt command (-n 1000) on the example's server,
// on every transport: 50 warm-up round trips and 1,000 measured ones, one after the other,
// on one session per transport, as rtt's measure does. None may be refused (with the
// default message rate, rate_limited comes within the first few hundred).
func TestRTTLoad(t *testing.T) {
	url := startEcho(t)
	testutil.ForEachTransport(t, func(t *testing.T, tr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, NoReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 50 + 1000 {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.EmitWithAck(rctx, "rtt", strings.Repeat("x", 16))
			cancel()
			if err != nil {
				t.Fatalf("round trip %d: %v", i+1, err)
			}
		}
	})
}

// TestNATSTwoNodes runs two echo servers as nodes of one cluster over a real nats-server:
// bcast on one node reaches a member of the room on the other.
func TestNATSTwoNodes(t *testing.T) {
	n := testutil.StartNATS(t)
	a := serve.SockhopURL(serve.StartExample(t, run, "-nats", n.URL()).URL)
	b := serve.SockhopURL(serve.StartExample(t, run, "-nats", n.URL()).URL)
	ann, rec := dial(t, a, client.WebSocket)
	bob, _ := dial(t, b, client.XHRPolling)
	serve.MustAsk(t, ann, "join", "r")
	// The join reaches node b through the broker; a bcast before it arrives goes nowhere.
	deadline := time.Now().Add(10 * time.Second)
	for rec.Count("b") == 0 && time.Now().Before(deadline) {
		serve.MustAsk(t, bob, "bcast", bcastReq{Room: "r", M: 1, S: 3})
		time.Sleep(50 * time.Millisecond)
	}
	if rec.Count("b") == 0 {
		t.Fatal("a bcast on node b never reached the member on node a")
	}
	before := rec.Count("b")
	serve.MustAsk(t, bob, "bcast", bcastReq{Room: "r", M: 5, S: 3})
	for deadline := time.Now().Add(5 * time.Second); rec.Count("b") < before+5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 broadcasts from node b arrived on node a; saw %s", rec.Count("b")-before, rec)
		}
	}
}

// TestMetricsFlag: -metrics serves sockhop's metrics at /metrics, counting a session.
func TestMetricsFlag(t *testing.T) {
	info := serve.StartExample(t, run, "-metrics")
	dial(t, serve.SockhopURL(info.URL), client.WebSocket)
	res, err := http.Get(info.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{`sockhop_sessions_open{transport="websocket"} 1`, "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	res, err = http.Get(serve.StartExample(t, run).URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without -metrics: %s, want 404", res.Status)
	}
}

// TestAdminFlag: -admin serves the admin page to the -admin-password only, and needs one.
func TestAdminFlag(t *testing.T) {
	if err := run(context.Background(), []string{"-admin"}, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "-admin-password") {
		t.Fatalf("-admin without a password: %v", err)
	}
	info := serve.StartExample(t, run, "-admin", "-admin-password", "s3cret")
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", http.StatusUnauthorized}, {"admin", "wrong", http.StatusUnauthorized}, {"admin", "s3cret", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, serve.SockhopURL(info.URL)+"/admin", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s:%s: %s, want %d", tc.user, tc.pass, res.Status, tc.want)
		}
	}
}
