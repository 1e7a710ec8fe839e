package sockhop_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/rooms"
)

const testPublishKey = "s3cret-publish-key"

// postPublish POSTs body to url's publish endpoint with the key (none when "") and the
// Idempotency-Key idem (none when ""), and returns the status and the answer.
func postPublish(t *testing.T, url, key, idem, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/publish", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestPublishEndpointRefuses: the publish endpoint is off by default; on, it refuses
// other methods, requests without the key or with a wrong one, or refused by PublishAuth,
// bad bodies, and bodies past 1 MiB, each with its status and an error code.
func TestPublishEndpointRefuses(t *testing.T) {
	t.Parallel()
	_, off := testServer(t, sockhop.Options{}, nil)
	if code, _ := postPublish(t, off, testPublishKey, "", `{"rooms":["a"],"event":"e"}`); code != http.StatusNotFound {
		t.Fatalf("the endpoint without PublishKey or PublishAuth: %d, want 404", code)
	}
	_, url := testServer(t, sockhop.Options{
		PublishKey: testPublishKey,
		PublishAuth: func(r *http.Request) error {
			switch r.Header.Get("X-Tenant") {
			case "evil":
				return &sockhop.Error{Code: "forbidden_tenant", Message: "not this tenant"}
			case "panic":
				panic("PublishAuth panics")
			}
			return nil
		},
	}, nil)

	res, err := http.Get(url + "/publish")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d, Allow %q; want 405, POST", res.StatusCode, res.Header.Get("Allow"))
	}
	good := `{"rooms":["a"],"event":"e","data":1}`
	req, _ := http.NewRequest(http.MethodPost, url+"/publish", strings.NewReader(good))
	req.Header.Set("Authorization", "Bearer "+testPublishKey)
	req.Header.Set("Origin", "https://evil.example")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a POST from another site's page: %d, want 403", res.StatusCode)
	}
	for _, key := range []string{"", "wrong", testPublishKey + "x", strings.ToUpper(testPublishKey)} {
		if code, body := postPublish(t, url, key, "", good); code != http.StatusUnauthorized || !strings.Contains(body, `"code":"unauthorized"`) {
			t.Fatalf("key %q: %d %s, want 401 unauthorized", key, code, body)
		}
	}
	for tenant, want := range map[string]string{"evil": `"code":"forbidden_tenant"`, "panic": `"code":"unauthorized"`} {
		req, _ := http.NewRequest(http.MethodPost, url+"/publish", strings.NewReader(good))
		req.Header.Set("Authorization", "Bearer "+testPublishKey)
		req.Header.Set("X-Tenant", tenant)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), want) {
			t.Fatalf("PublishAuth %s: %d %s, want 401 %s", tenant, res.StatusCode, b, want)
		}
	}
	req, _ = http.NewRequest(http.MethodPost, url+"/publish", strings.NewReader(good))
	req.Header.Set("Authorization", "bearer "+testPublishKey) // the scheme in any case
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("lower-case bearer: %d", res.StatusCode)
	}
	if code, body := postPublish(t, url, testPublishKey, "", good); code != http.StatusOK || strings.TrimSpace(body) != `{"ok":true}` {
		t.Fatalf("a good publish: %d %s", code, body)
	}

	for _, c := range []struct{ name, body string }{
		{"not JSON", `{"rooms":["a"],`},
		{"not an object", `[1]`},
		{"two values", good + good},
		{"no event", `{"rooms":["a"],"data":1}`},
		{"reserved event", `{"rooms":["a"],"event":"$sub"}`},
		{"no target", `{"event":"e","data":1}`},
		{"empty room", `{"rooms":[""],"event":"e"}`},
		{"control room", `{"rooms":["\u0000users"],"event":"e"}`},
		{"empty user", `{"users":[""],"event":"e"}`},
		{"unknown class", `{"rooms":["a"],"event":"e","class":"urgent"}`},
		{"durable to users", `{"users":["u"],"event":"e","class":"durable"}`},
		{"durable to two rooms", `{"rooms":["a","b"],"event":"e","class":"durable"}`},
	} {
		code, body := postPublish(t, url, testPublishKey, "", c.body)
		var e struct{ Error *sockhop.Error }
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Error == nil || e.Error.Code != "bad_request" || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want 400 bad_request with a message", c.name, code, body)
		}
	}
	if code, body := postPublish(t, url, testPublishKey, strings.Repeat("k", 201), good); code != http.StatusBadRequest {
		t.Errorf("an Idempotency-Key of 201 bytes: %d %s, want 400", code, body)
	}
	big := `{"rooms":["a"],"event":"e","data":"` + strings.Repeat("x", 1<<20) + `"}`
	if code, body := postPublish(t, url, testPublishKey, "", big); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":"too_large"`) {
		t.Fatalf("a body past 1 MiB: %d %.200s, want 413", code, body)
	}
	// Just under the limit is fine.
	fits := `{"rooms":["a"],"event":"e","data":"` + strings.Repeat("x", 1<<20-64) + `"}`
	if code, body := postPublish(t, url, testPublishKey, "", fits); code != http.StatusOK {
		t.Fatalf("a body just under 1 MiB: %d %.200s", code, body)
	}
}

// TestPublishEndpoint: a publish through the HTTP endpoint reaches rooms and users on both
// nodes of a cluster; a retried request with the same Idempotency-Key is delivered once,
// whether the retry reaches the same node or the other (a shared Claimer), and its answer
// says duplicate; a durable publish answers its position.
func TestPublishEndpoint(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		bus := rooms.NewMemoryBus()
		claims := rooms.NewMemoryClaimer()
		hist := rooms.NewMemoryHistory()
		opts := sockhop.Options{PublishKey: testPublishKey, Claimer: claims, History: hist}
		_, urlA := clusterNode(t, bus.Adapter(), opts)
		_, urlB := clusterNode(t, bus.Adapter(), opts)
		ann, bob := userClient(t, urlA, tr, "ann"), userClient(t, urlB, tr, "bob")
		colAnn, colBob := collect(ann, "news", 16), collect(bob, "news", 16)
		request(t, ann, "join", "lobby")
		request(t, bob, "join", "lobby")

		post := func(url, idem, body, want string) {
			t.Helper()
			code, got := postPublish(t, url, testPublishKey, idem, body)
			if code != http.StatusOK || strings.TrimSpace(got) != want {
				t.Fatalf("publish %s (key %q) to %s: %d %s, want 200 %s", body, idem, url, code, got, want)
			}
		}
		const ok, dup = `{"ok":true}`, `{"ok":true,"duplicate":true}`
		once := `{"rooms":["lobby"],"event":"news","data":"once"}`
		post(urlA, "k1", once, ok)
		post(urlA, "k1", once, dup) // the same node
		post(urlB, "k1", once, dup) // the other node
		twice := `{"users":["ann","bob"],"event":"news","data":"users"}`
		post(urlB, "k2", twice, ok)
		post(urlA, "k2", twice, dup)
		post(urlB, "", `{"rooms":["lobby"],"event":"news","data":"end B"}`, ok)
		post(urlA, "", `{"rooms":["lobby"],"event":"news","data":"end A"}`, ok)
		// Each client has both ends: a duplicate, published before the end of the node that
		// published it, would have come before it.
		for who, col := range map[string]*collector{"ann": colAnn, "bob": colBob} {
			seen := map[string]int{}
			for seen["end A"] == 0 || seen["end B"] == 0 {
				var s string
				_ = json.Unmarshal(col.next(t), &s)
				seen[s]++
			}
			if seen["once"] != 1 || seen["users"] != 1 || len(seen) != 4 {
				t.Fatalf("%s got %v; want once, users, end A and end B once each", who, seen)
			}
		}

		// Durable: the answer has the position, the member gets the message.
		code, body := postPublish(t, urlB, testPublishKey, "k3", `{"rooms":["lobby"],"event":"news","data":"kept","class":"durable","except":["`+bob.SessionID()+`"]}`)
		var reply struct {
			OK  bool
			Pos *rooms.Position
		}
		if err := json.Unmarshal([]byte(body), &reply); code != http.StatusOK || err != nil || !reply.OK || reply.Pos == nil || reply.Pos.Epoch == "" || reply.Pos.Offset != 1 {
			t.Fatalf("durable publish: %d %s, want 200 with pos offset 1", code, body)
		}
		expectSeq(t, colAnn, "ann", "kept")
		if entries, _, _, err := hist.Since(t.Context(), "lobby", rooms.Position{}, 0); err != nil || len(entries) != 1 {
			t.Fatalf("history after the durable publish: %d entries, %v", len(entries), err)
		}
		post(urlA, "", `{"rooms":["lobby"],"event":"news","data":"end"}`, ok)
		expectSeq(t, colBob, "bob", "end") // left out of "kept"
		expectSeq(t, colAnn, "ann", "end")
		if code, _ := postPublish(t, urlA, testPublishKey, "k3", `{"rooms":["lobby"],"event":"news","class":"durable"}`); code != http.StatusOK {
			t.Fatalf("a retried durable publish: %d", code)
		}
		if entries, _, _, _ := hist.Since(t.Context(), "lobby", rooms.Position{}, 0); len(entries) != 1 {
			t.Fatalf("a retried durable publish was appended again: %d entries", len(entries))
		}
	})
}

// TestPublishEndpointBrokerDown: a publish that cannot reach the other nodes is answered
// 503 unavailable, and its Idempotency-Key is spent (PROTOCOL.md §9).
func TestPublishEndpointBrokerDown(t *testing.T) {
	t.Parallel()
	bus := rooms.NewMemoryBus()
	_, url := clusterNode(t, bus.Adapter(), sockhop.Options{PublishKey: testPublishKey})
	bus.SetDown(true)
	body := `{"rooms":["lobby"],"event":"news","data":1}`
	if code, got := postPublish(t, url, testPublishKey, "k", body); code != http.StatusServiceUnavailable || !strings.Contains(got, `"code":"unavailable"`) {
		t.Fatalf("publish with the broker down: %d %s, want 503 unavailable", code, got)
	}
	bus.SetDown(false)
	if code, got := postPublish(t, url, testPublishKey, "k", body); code != http.StatusOK || !strings.Contains(got, `"duplicate":true`) {
		t.Fatalf("the same key after a 503: %d %s, want a duplicate", code, got)
	}
	if code, got := postPublish(t, url, testPublishKey, "k2", body); code != http.StatusOK || strings.TrimSpace(got) != `{"ok":true}` {
		t.Fatalf("a new key: %d %s", code, got)
	}
}
