package sockhop

import (
	"errors"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
)

// Close codes (PROTOCOL.md §5). Codes 4000–4499 tell clients to reconnect, 4500–4999 not
// to; 4000–4099 and 4500–4599 belong to sockhop, 4100–4499 and 4600–4999 to applications.
const (
	CloseNormal             = events.CloseNormal             // 1000, terminal: Close by either side
	CloseGoingAway          = events.CloseGoingAway          // 1001, reconnect after the retry hint: Shutdown
	CloseProtocolError      = events.CloseProtocolError      // 1002, terminal: malformed message
	CloseUnsupportedData    = events.CloseUnsupportedData    // 1003, terminal: binary frame
	CloseInvalidPayload     = events.CloseInvalidPayload     // 1007, terminal: invalid UTF-8
	ClosePolicyViolation    = events.ClosePolicyViolation    // 1008, terminal: policy
	CloseTooBig             = events.CloseTooBig             // 1009, terminal: frame over MaxMessageSize
	CloseInternalError      = events.CloseInternalError      // 1011, reconnect: a handler panicked
	CloseTryAgainLater      = events.CloseTryAgainLater      // 1013, reconnect: slow consumer
	CloseHandshakeTimeout   = events.CloseHandshakeTimeout   // 4000, reconnect: no hello in time
	CloseHeartbeatTimeout   = events.CloseHeartbeatTimeout   // 4001, reconnect: no pong in time
	CloseReplaced           = events.CloseReplaced           // 4002, reconnect: a newer transport resumed the session
	CloseUnsupportedVersion = events.CloseUnsupportedVersion // 4500, terminal: unknown protocol version
	CloseUnauthorized       = events.CloseUnauthorized       // 4501, terminal: authentication refused
	CloseRejected           = events.CloseRejected           // 4503, terminal: OnConnect returned an error
	CloseKicked             = events.CloseKicked             // 4504, terminal: DisconnectUser
)

// CloseError says why a session closed: a close code, a reason, and for going-away closes
// a retry hint. Read it with [CloseCode] or errors.As.
type CloseError = events.CloseError

// Error is a client-visible error: returned from a handler it becomes the error ack the
// client sees; returned from OnConnect it rejects the connection with that error. Any other
// error reaches the client as code "internal" and is logged.
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
	// ErrServerClosed is returned after Shutdown.
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
