package testutil

import "testing"

// Transports are sockhop's transports, in the order of the client's ladder (the names of
// client.WebSocket, client.XHRStreaming and client.XHRPolling: testutil imports no sockhop
// package). Every behaviour test runs on each.
var Transports = []string{"websocket", "xhr-streaming", "xhr-polling"}

// ForEachTransport runs f as a subtest on every transport, as net/http's run(t, f) does on
// HTTP/1 and HTTP/2.
func ForEachTransport(t *testing.T, f func(t *testing.T, tr string)) {
	t.Helper()
	for _, tr := range Transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}
