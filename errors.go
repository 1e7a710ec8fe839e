package sockhop

import (
	"errors"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
)

// Close codes, as listed in PROTOCOL.md §5 and testdata/protocol/close-codes.json (the
// tests hold this list, its comments and PROTOCOL.md to that file). Each says whether
// clients reconnect after it (also [Reconnects]). Codes 4000–4499 mean reconnect and
// 4500–4999 terminal; 4000–4099 and 4500–4599 belong to sockhop, 4100–4499 and 4600–4999
// to applications. Any other code in 1000–3999 means reconnect.
const (
	// CloseNormal (1000, terminal): closed by either side on purpose (Session.Close, client close).
	CloseNormal = events.CloseNormal
	// CloseGoingAway (1001, reconnect): server shutting down; reconnect after the retry hint.
	CloseGoingAway = events.CloseGoingAway
	// CloseProtocolError (1002, terminal): malformed message, a first message that is not hello, a second hello.
	CloseProtocolError = events.CloseProtocolError
	// CloseUnsupportedData (1003, terminal): binary WebSocket frame before the hello (§2, "Binary messages").
	CloseUnsupportedData = events.CloseUnsupportedData
	// CloseAbnormal (1006, reconnect): transport dropped without a close; resume grace expired; resume impossible.
	CloseAbnormal = events.CloseAbnormal
	// CloseInvalidPayload (1007, terminal): invalid UTF-8.
	CloseInvalidPayload = events.CloseInvalidPayload
	// ClosePolicyViolation (1008, terminal): policy: the client kept sending past its message rate; an HTTP 403 (Origin or Host refused) reads as this code.
	ClosePolicyViolation = events.ClosePolicyViolation
	// CloseTooBig (1009, terminal): frame over MaxMessageSize.
	CloseTooBig = events.CloseTooBig
	// CloseInternalError (1011, reconnect): a handler or hook panicked.
	CloseInternalError = events.CloseInternalError
	// CloseTryAgainLater (1013, reconnect): slow consumer, or a limit: reconnect after the retry hint.
	CloseTryAgainLater = events.CloseTryAgainLater
	// CloseHandshakeTimeout (4000, reconnect): no hello within HandshakeTimeout.
	CloseHandshakeTimeout = events.CloseHandshakeTimeout
	// CloseHeartbeatTimeout (4001, reconnect): no frame within the pong timeout of a ping.
	CloseHeartbeatTimeout = events.CloseHeartbeatTimeout
	// CloseReplaced (4002, reconnect): a newer transport resumed the session.
	CloseReplaced = events.CloseReplaced
	// CloseAuthExpired (4003, reconnect): credentials expired (Identity.Expires passed): fetch fresh credentials, then reconnect.
	CloseAuthExpired = events.CloseAuthExpired
	// CloseUnsupportedVersion (4500, terminal): unknown protocol version.
	CloseUnsupportedVersion = events.CloseUnsupportedVersion
	// CloseUnauthorized (4501, terminal): authentication refused.
	CloseUnauthorized = events.CloseUnauthorized
	// CloseRejected (4503, terminal): OnConnect returned an error.
	CloseRejected = events.CloseRejected
	// CloseKicked (4504, terminal): DisconnectUser.
	CloseKicked = events.CloseKicked
)

// CloseError says why a session or a connection closed. It is an alias of
// events.CloseError, declared there because the session layer and the Go client use it
// too; its fields are:
//
//	type CloseError struct {
//		Code   int               // the close code, one of the Close constants or an app's 4100–4999
//		Reason string            // why, in words, for logs (the client sees it too)
//		Retry  int64             // ms the client should wait before reconnecting; 0 = its backoff
//		Err    *events.ErrorBody // the client-visible error of a 4501 or 4503 close (an *Error)
//	}
//
// Its Error method says the code and the reason. Read it from any error with [CloseCode]
// or errors.As. Returned (wrapped or not) from OnConnect, a *CloseError closes the new
// connection with its code, reason and retry hint.
type CloseError = events.CloseError

// Error is a client-visible error: returned from a handler it becomes the error ack the
// client sees; returned from OnConnect or Authenticate it refuses the connection with that
// error. Any other error reaches the client as code "internal" and is logged. It is an
// alias of events.ErrorBody, which the Go client returns for error acks too; its fields
// are:
//
//	type Error struct {
//		Code    string `json:"code"`    // machine-readable, such as "bad_request" or an app's own
//		Message string `json:"message"` // for people
//	}
//
// Its Error method says "sockhop: " and the code and the message.
type Error = events.ErrorBody

// CloseCode returns the close code in err's chain, or 0 when there is none.
func CloseCode(err error) int { return events.CloseCode(err) }

// Reconnects reports whether clients reconnect after a close with code.
func Reconnects(code int) bool { return events.Reconnect(code) }

// Errors returned by sockhop.
var (
	// ErrSessionClosed is returned by calls on a session that has ended.
	ErrSessionClosed = session.ErrClosed
	// ErrSlowConsumer is returned by an emit that overflowed a session's send queue; the
	// session is closed with CloseTryAgainLater.
	ErrSlowConsumer = session.ErrSlowConsumer
	// ErrAckTimeout is returned by EmitWithAck when no reply came in time.
	ErrAckTimeout = session.ErrAckTimeout
	// ErrTooManyAcks is returned by EmitWithAck when too many requests are unanswered.
	ErrTooManyAcks = session.ErrTooManyAcks
	// ErrServerClosed is returned by a room emit (Server.To(...).Emit) once Shutdown has
	// begun.
	ErrServerClosed = errors.New("sockhop: server closed")
)

// Error codes sockhop itself puts in error acks.
const (
	CodeBadRequest   = "bad_request"   // the data did not decode into the handler's type
	CodeUnknownEvent = "unknown_event" // no handler for the event
	CodeInternal     = "internal"      // the handler failed with a non-client-visible error
)

// clientError returns what the client may see of err.
func clientError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return &Error{Code: CodeInternal, Message: "internal error"}, false
}
