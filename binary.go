package sockhop

import (
	"context"
	"encoding/json"

	"github.com/sockhop/sockhop/events"
)

// Binary payloads (PROTOCOL.md §2, "Binary messages"). A []byte given to Emit,
// EmitWithAck, Broadcast.Emit or returned as a reply travels as bytes: a binary WebSocket
// frame to clients that declared binary support, base64 in a text message otherwise (to
// clients that did not, exactly what encoding/json made of a []byte before). A client's
// bytes reach handlers as a []byte: On[[]byte] and OnRequest[[]byte, R] get them as they
// arrived (no copy, no base64); any other T gets them decoded from their base64 JSON
// string; a HandlerFunc finds them with [Bytes] (its data is then nil).

type bytesKey struct{}

// Bytes returns the payload of the binary message a handler is handling, and whether the
// message was one. A HandlerFunc's data is nil for a binary message.
func Bytes(ctx context.Context) ([]byte, bool) {
	b, ok := ctx.Value(bytesKey{}).([]byte)
	return b, ok
}

// withBytes returns the context a handler of m runs with.
func withBytes(ctx context.Context, m *events.Message) context.Context {
	if m.B == nil {
		return ctx
	}
	return context.WithValue(ctx, bytesKey{}, m.B)
}

// decodeIn decodes a handler's input: the bytes of a binary message, or its JSON data.
func decodeIn[T any](ctx context.Context, data json.RawMessage) (T, error) {
	if b, ok := Bytes(ctx); ok {
		var v T
		if p, ok := any(&v).(*[]byte); ok {
			*p = b
			return v, nil
		}
		data, _ = json.Marshal(b) // a base64 JSON string, what an old client would send
	}
	return decode[T](data)
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
