package client

import (
	"context"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/session"
)

// ErrQueueFull is returned by Emit and EmitWithAck when the send queue (MaxQueueBytes)
// is full, as it gets while the client is offline: that message is not sent, and the
// session goes on (the JS client's queue_full). Test for it with errors.Is.
var ErrQueueFull = session.ErrQueueFull

// Binary payloads (PROTOCOL.md §2, "Binary messages"): a []byte given to Emit or
// EmitWithAck, or returned by an OnRequest handler, travels as bytes, in a binary
// WebSocket frame or base64 on SockJS. The server's bytes reach a handler in Bytes(ctx),
// its data then nil.

type bytesKey struct{}

// Bytes returns the payload of the binary message a handler is handling, and whether the
// message was one; the handler's data is then nil.
func Bytes(ctx context.Context) ([]byte, bool) {
	b, ok := ctx.Value(bytesKey{}).([]byte)
	return b, ok
}

func withBytes(ctx context.Context, m *events.Message) context.Context {
	if m.B == nil {
		return ctx
	}
	return context.WithValue(ctx, bytesKey{}, m.B)
}

// encodeEvent encodes event name with v: bytes for a []byte, JSON otherwise.
func encodeEvent(name string, v any, id uint64) ([]byte, error) {
	enc, err := eventEncoder(name, v)
	if err != nil {
		return nil, err
	}
	return enc(id), nil
}

// eventEncoder encodes v once and returns what encodes event name with it and an ack id.
func eventEncoder(name string, v any) (func(id uint64) []byte, error) {
	return events.EventEncoder(name, v, marshal)
}
