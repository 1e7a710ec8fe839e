package clustertest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
)

// TestDisconnectUser: a user with a session on every transport (through nginx, so on
// several nodes) is disconnected by one node: every session closes with CloseKicked, and
// stays closed; another user's session carries on; no node lists the user after.
func TestDisconnectUser(t *testing.T) {
	t.Parallel() // mostly waits, like TestNodeLoss
	c := startCluster(t, redisBroker, 3)
	room := "kick"
	var kims []*goClient
	nodes := map[string]bool{}
	for i, tr := range []string{"websocket", "xhr-streaming", "xhr-polling", "websocket", "xhr-polling"} {
		g := c.dial(t, fmt.Sprintf("kim%d", i), tr, dialOpts{user: "kim"})
		g.join(t, room)
		_, nd := g.where()
		nodes[nd] = true
		kims = append(kims, g)
	}
	lee := c.dial(t, "lee", "xhr-polling", dialOpts{user: "lee"})
	lee.join(t, room)
	if len(nodes) < 2 {
		t.Fatalf("kim's 5 sessions are all on one node (%v): round robin should spread them", nodes)
	}
	waitFor(t, 5*time.Second, "every node to see kim and lee", func() (bool, string) {
		for _, nd := range c.nodes {
			v, err := c.view(nd, room)
			if err != nil || !slices.Equal(v.Presence, []string{"kim", "lee"}) || v.Count != 6 {
				return false, fmt.Sprintf("%s: %+v %v", nd, v, err)
			}
		}
		return true, ""
	})

	resp, err := c.http.Post("http://"+c.nodes[0].addr+"/disconnect?user=kim", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Closed int    `json:"closed"`
		Error  string `json:"error"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || out.Closed != len(kims) || out.Error != "" {
		t.Fatalf("DisconnectUser(kim) on %s: %+v, %v; want %d closed", c.nodes[0], out, err, len(kims))
	}
	for _, g := range kims {
		select {
		case <-g.Done():
			if code := sockhop.CloseCode(g.Err()); code != sockhop.CloseKicked {
				t.Errorf("%s (%s) ended with %v (code %d), want CloseKicked", g.name, g.Transport(), g.Err(), code)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s is still connected 10 s after DisconnectUser", g.name)
		}
	}
	waitFor(t, 5*time.Second, "every node to forget kim", func() (bool, string) {
		for _, nd := range c.nodes {
			v, err := c.view(nd, room)
			if err != nil || !slices.Equal(v.Presence, []string{"lee"}) || v.Count != 1 {
				return false, fmt.Sprintf("%s: %+v %v", nd, v, err)
			}
		}
		return true, ""
	})
	if _, err := lee.say(t.Context(), room, "lee", 0); err != nil {
		t.Errorf("lee after kim was disconnected: %v", err)
	}
}
