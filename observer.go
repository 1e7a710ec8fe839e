package sockhop

import (
	"path"
	"reflect"
	"time"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/transport"
)

// Observer receives what a [Server] does, for metrics (Options.Observer). The package
// github.com/sockhop/sockhop/metrics implements it with Prometheus; the root package does
// not link Prometheus. A nil Observer costs one nil check per event.
//
// Methods are called on the server's and the sessions' goroutines, concurrently, and
// must not block. Transport names are "websocket", "xhr-streaming" and "xhr-polling";
// close codes are those of closecodes.go. No session id, user or room name is passed, so
// an implementation keeps its label sets bounded.
//
// Methods may be added to Observer in later versions; embed [NopObserver] in an
// implementation to keep compiling.
type Observer interface {
	// Traffic returns what counts the messages of one transport; it is called once each
	// time a session starts being served on a transport, never per message, so that an
	// implementation resolves its per-transport counters there. Nil counts nothing.
	Traffic(transport string) TrafficObserver
	// SessionOpened reports a new session, welcomed on transport handshake after its
	// connection was accepted (hello read, Authenticate and OnConnect run).
	SessionOpened(transport string, handshake time.Duration)
	// SessionResumed reports a resume: the session ran on from (empty when it had not been
	// served yet) and goes on on to; d is the time from the hello to the resumed welcome.
	// A resume onto a lower transport ([TransportRank]) is how a fallback shows on the
	// server: a hello does not say which transports failed before it (package metrics,
	// "Fallbacks", has the limits).
	SessionResumed(from, to string, d time.Duration)
	// ResumeFailed reports a hello that asked for a resume the server could not grant
	// (unknown or expired session, wrong token or user, messages lost); the client gets a
	// new session, reported by SessionOpened.
	ResumeFailed(transport string)
	// SessionClosed reports the end of a session that ran on transport last, with its
	// close code.
	SessionClosed(transport string, code int)
	// ConnectionRefused reports a connection refused before it became a session, with
	// the close code it got (1013 for the per-address limits and the connect rate, 1001
	// while shutting down, 4003 unauthorized, ...) and the limit that refused it, if one
	// did: "per_address", "handshakes", "connect_rate" or "".
	ConnectionRefused(transport string, code int, limit string)
	// SlowConsumer reports a session closed with 1013 because its send queue overflowed,
	// with the messages dropped with the queue.
	SlowConsumer(transport string, dropped int)
	// Broadcast reports a broadcast delivered on this node (an Emit to rooms here, or one
	// that came from another node) and how many local sessions it was queued for.
	Broadcast(recipients int)
	// AdapterPublish reports one Publish of the rooms Adapter (broker names its package:
	// "rooms", "redis", "nats"), how long it took and its error.
	AdapterPublish(broker string, d time.Duration, err error)
}

// TrafficObserver counts one transport's traffic. Its methods are called once per frame
// read or written, on the sessions' reader and writer goroutines: they must be cheap (an
// atomic add; no lock, no allocation, no map lookup).
type TrafficObserver interface {
	// Received counts a frame read from a client: its messages and bytes.
	Received(messages, bytes int)
	// Sent counts a frame written to a client: its messages and bytes.
	Sent(messages, bytes int)
	// RateLimited counts messages refused for the message rate (MessageRate).
	RateLimited(messages int)
}

// NopObserver is an [Observer] that does nothing, to embed in an implementation that
// handles only some of the methods.
type NopObserver struct{}

var _ Observer = NopObserver{}

// Traffic returns nil.
func (NopObserver) Traffic(string) TrafficObserver { return nil }

// SessionOpened does nothing.
func (NopObserver) SessionOpened(string, time.Duration) {}

// SessionResumed does nothing.
func (NopObserver) SessionResumed(string, string, time.Duration) {}

// ResumeFailed does nothing.
func (NopObserver) ResumeFailed(string) {}

// SessionClosed does nothing.
func (NopObserver) SessionClosed(string, int) {}

// ConnectionRefused does nothing.
func (NopObserver) ConnectionRefused(string, int, string) {}

// SlowConsumer does nothing.
func (NopObserver) SlowConsumer(string, int) {}

// Broadcast does nothing.
func (NopObserver) Broadcast(int) {}

// AdapterPublish does nothing.
func (NopObserver) AdapterPublish(string, time.Duration, error) {}

// TransportRank orders the transports from the best (websocket, 3) to the last resort
// (xhr-polling, 1); an unknown name is 0. A resume from a higher to a lower rank is a
// fallback, from lower to higher an upgrade.
func TransportRank(name string) int {
	switch name {
	case transport.WebSocket:
		return 3
	case transport.XHRStreaming:
		return 2
	case transport.XHRPolling:
		return 1
	}
	return 0
}

// brokerName names an adapter for metrics by the last element of its package path
// ("rooms" for the in-memory one, "redis", "nats").
func brokerName(a rooms.Adapter) string {
	t := reflect.TypeOf(a)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.PkgPath() == "" {
		return "unknown"
	}
	return path.Base(t.PkgPath())
}
