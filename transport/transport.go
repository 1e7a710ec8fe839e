// Package transport defines what a sockhop session needs of a transport connection, so
// that the session layer knows nothing of HTTP, WebSocket or SockJS. Its subpackages wrap
// one dependency each: [github.com/sockhop/sockhop/transport/ws] (gorilla/websocket) and
// [github.com/sockhop/sockhop/transport/sockjs] (igm/sockjs-go, HTTP fallbacks only).
//
// # Concurrency
//
// A Conn has one reader (ReadFrame) and one writer (WriteFrame, Close); Close may also be
// called from any goroutine to unblock the reader.
package transport

import "errors"

// Names of the transports, as clients and logs spell them.
const (
	WebSocket    = "websocket"
	XHRStreaming = "xhr-streaming"
	XHRPolling   = "xhr-polling"
)

// Conn is one transport connection carrying sockhop frames (PROTOCOL.md §2).
type Conn interface {
	// ReadFrame blocks until the next frame arrives. Its error carries a close code
	// (events.CloseCode) when the frame broke a rule: too big, not UTF-8, binary. The
	// frame's bytes may be reused by the next ReadFrame: whoever keeps any copies it.
	ReadFrame() ([]byte, error)
	// WriteFrame writes msgs joined by '\n' as one frame, bounded by the transport's write
	// timeout. Only one goroutine writes.
	WriteFrame(msgs [][]byte) error
	// Close closes the connection with a close code and reason, once; later calls do
	// nothing. It unblocks ReadFrame.
	Close(code int, reason string) error
	// Name is the transport's name: WebSocket, XHRStreaming or XHRPolling.
	Name() string
}

// FinalWriter is implemented by a Conn that can write a session's last frame (its close
// message) without the flow control of ordinary writes: the SockJS transports otherwise
// wait for the client's next poll.
type FinalWriter interface {
	WriteFinal(msgs [][]byte) error
	// Writable reports whether a WriteFrame now would write without waiting for the
	// peer's next request (as it may when the call comes).
	Writable() bool
}

// ErrClosed is returned by a Conn used after Close.
var ErrClosed = errors.New("transport: closed")

// ReadWaiter is implemented by a Conn that can wait for its next frame without a goroutine
// blocked in ReadFrame: the session's reader then ends while the peer is silent and starts
// again when bytes arrive, so that an idle session holds no goroutine (transport/ws on
// Linux, over plain TCP; transport/sockjs).
type ReadWaiter interface {
	// WaitRead arranges for f to be called once, on a goroutine other than the caller's,
	// when a read may proceed: bytes arrived, the peer hung up, or Close was called. It
	// returns false, and does not call f, when it cannot wait so (bytes are buffered
	// already, or the conn has no poller, or it is closed): the caller reads at once. f
	// may run on a goroutine of the transport's that waits for it (an HTTP request's,
	// answered when f returns): f reads what arrived, waiting only as long as the session
	// cannot take it (a reader's back-pressure), and hands any longer work to another.
	WaitRead(f func()) bool
}
