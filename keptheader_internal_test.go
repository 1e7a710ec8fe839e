package sockhop

import (
	"net/http"
	"testing"
)

// TestKeptHeader: a session keeps the request's headers but those of the WebSocket
// handshake, with every value, in a copy of its own.
func TestKeptHeader(t *testing.T) {
	h := http.Header{
		"Cookie": {"a=1", "b=2"}, "User-Agent": {"test"}, "Sec-Websocket-Protocol": {"sockhop.v1"},
		"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Key": {"k"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Extensions": {"permessage-deflate"},
	}
	kept := keptHeader(h)
	if len(kept) != 3 || kept.Get("User-Agent") != "test" || kept.Get("Sec-WebSocket-Protocol") != "sockhop.v1" ||
		len(kept["Cookie"]) != 2 || kept["Cookie"][1] != "b=2" {
		t.Fatalf("kept %v", kept)
	}
	h["Cookie"][0] = "changed"
	if kept["Cookie"][0] != "a=1" {
		t.Fatal("the kept header shares its values with the request's")
	}
	kept["User-Agent"] = append(kept["User-Agent"], "x")
	if kept["Cookie"][0] != "a=1" || kept["Cookie"][1] != "b=2" {
		t.Fatal("appending to one value overwrote another")
	}
}
