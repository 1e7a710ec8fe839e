package events

import (
	"errors"
	"fmt"
)

// Close codes. testdata/protocol/close-codes.json is the one table of them (PROTOCOL.md
// §5 shows it): their meanings, whether clients reconnect after each (see [Reconnect]),
// and the ranges, 4000–4499 "reconnect" and 4500–4999 "terminal", 4000–4099 and 4500–4599
// sockhop's, 4100–4499 and 4600–4999 the apps'. The tests hold this list to that file.
const (
	CloseNormal             = 1000
	CloseGoingAway          = 1001
	CloseProtocolError      = 1002
	CloseUnsupportedData    = 1003
	CloseNoStatus           = 1005
	CloseAbnormal           = 1006
	CloseInvalidPayload     = 1007
	ClosePolicyViolation    = 1008
	CloseTooBig             = 1009
	CloseInternalError      = 1011
	CloseTryAgainLater      = 1013
	CloseHandshakeTimeout   = 4000
	CloseHeartbeatTimeout   = 4001
	CloseReplaced           = 4002
	CloseAuthExpired        = 4003
	CloseUnsupportedVersion = 4500
	CloseUnauthorized       = 4501
	CloseRejected           = 4503
	CloseKicked             = 4504
)

// Reconnect reports whether a client should reconnect after a close with code.
func Reconnect(code int) bool {
	switch {
	case code >= 4000 && code < 4500:
		return true
	case code >= 4500 && code < 5000:
		return false
	}
	switch code {
	case CloseNormal, CloseProtocolError, CloseUnsupportedData, CloseInvalidPayload,
		ClosePolicyViolation, CloseTooBig:
		return false
	}
	return true
}

// CloseError is why a session or transport closed: a close code and a reason, with an
// optional retry hint (going away) and a client-visible error (rejected connects).
type CloseError struct {
	Code   int        // the close code (PROTOCOL.md §5)
	Reason string     // why, in words, for logs; the peer sees it too
	Retry  int64      // milliseconds the client should wait before reconnecting; 0 = none
	Err    *ErrorBody // client-visible error, for 4501 and 4503
}

// Error says the code and the reason.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("sockhop: closed with %d", e.Code)
	}
	return fmt.Sprintf("sockhop: closed with %d: %s", e.Code, e.Reason)
}

// Message returns the close message that announces e to the peer.
func (e *CloseError) Message() *Message {
	return &Message{T: TypeClose, Code: e.Code, Reason: e.Reason, Retry: e.Retry, Err: e.Err}
}

// CloseCode returns the close code carried by err, or 0 when err carries none.
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// Error makes an ErrorBody usable as a Go error: an error ack received from the peer, or
// a client-visible error returned by a handler.
func (e *ErrorBody) Error() string {
	if e.Message == "" {
		return "sockhop: " + e.Code
	}
	return "sockhop: " + e.Code + ": " + e.Message
}

// Cause returns the *CloseError in err's chain, or a 1006 "transport closed" when there is
// none (a network error, EOF): why a connection or session ended.
func Cause(err error) *CloseError {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce
	}
	return &CloseError{Code: CloseAbnormal, Reason: "transport closed"}
}
