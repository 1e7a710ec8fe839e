package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// Binary messages (PROTOCOL.md §2, "Binary messages").
//
// A binary message is an ev or an ack whose payload is bytes rather than JSON. Its
// canonical form, the one queued, retained and broadcast, is the WebSocket binary frame
// that carries it: a JSON header line without "d" or "b" ({"t":"ev","n":"file","id":3}),
// a '\n', then the raw bytes. A text message never holds a raw '\n' (§2), so the form is
// self-describing: [IsBinary]. On transports or to peers that take text only, [TextForm]
// turns it into one JSON text message, the bytes base64 (standard alphabet, padded) in "b"
// for a peer that declared binary support (hello or welcome "bin":1), in "d" as a JSON
// string for one that did not, which is what encoding/json made of a []byte before.

// IsBinary reports whether an encoded message is in the binary form.
func IsBinary(msg []byte) bool { return bytes.IndexByte(msg, '\n') >= 0 }

// AppendBinaryEvent appends an ev message carrying data as bytes, in the binary form;
// id 0 means no ack is requested.
func AppendBinaryEvent(b []byte, name string, data []byte, id uint64) []byte {
	b = append(make([]byte, 0, len(name)+40+len(data)), b...)
	b = append(b, `{"t":"ev","n":`...)
	b = appendString(b, name)
	if id != 0 {
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, id, 10)
	}
	b = append(b, '}', '\n')
	return append(b, data...)
}

// AppendBinaryAck appends an ack of request id carrying data as bytes, in the binary form.
func AppendBinaryAck(b []byte, id uint64, data []byte) []byte {
	b = append(make([]byte, 0, 40+len(data)), b...)
	b = append(b, `{"t":"ack","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, '}', '\n')
	return append(b, data...)
}

// TextForm returns the text form of a message in the binary form: its header with the
// bytes added as base64 in "b" (field "b") or, when field is "d", as a JSON string in "d".
// A message not in the binary form is returned as is.
func TextForm(msg []byte, field string) []byte {
	i := bytes.IndexByte(msg, '\n')
	if i < 1 || msg[i-1] != '}' {
		return msg
	}
	head, raw := msg[:i-1], msg[i+1:]
	out := make([]byte, 0, len(head)+8+base64.StdEncoding.EncodedLen(len(raw)))
	out = append(out, head...)
	out = append(out, ',', '"')
	out = append(out, field...)
	out = append(out, '"', ':', '"')
	out = base64.StdEncoding.AppendEncode(out, raw)
	return append(out, '"', '}')
}

// DecodeBinary parses a binary frame (a WebSocket binary message): one header line, an ev
// or an ack without "d", "b" or "e", then '\n' and the bytes, which become m.B (never nil,
// and aliasing frame).
func DecodeBinary(frame []byte) (Message, error) {
	i := bytes.IndexByte(frame, '\n')
	if i < 0 {
		return Message{}, fmt.Errorf("%w: binary frame without a header line", ErrMalformed)
	}
	head := frame[:i]
	if len(head) > 0 && head[len(head)-1] == '\r' {
		head = head[:len(head)-1]
	}
	m, err := Decode(head)
	if err != nil {
		return Message{}, err
	}
	switch {
	case m.T != TypeEvent && m.T != TypeAck:
		return Message{}, fmt.Errorf("%w: a binary frame must carry an ev or an ack, not %q", ErrMalformed, truncate(m.T, 32))
	case m.Data != nil || m.B != nil || m.Err != nil:
		return Message{}, fmt.Errorf("%w: a binary frame's header has no d, b or e", ErrMalformed)
	}
	m.B = frame[i+1:]
	return m, nil
}

// EventEncoder encodes the payload v of event name once and returns what makes the
// message with an ack id (0 for none): a binary event for a []byte, else an event with
// the JSON that marshal makes of v.
func EventEncoder(name string, v any, marshal func(any) (json.RawMessage, error)) (func(id uint64) []byte, error) {
	if b, ok := v.([]byte); ok {
		return func(id uint64) []byte { return AppendBinaryEvent(nil, name, b, id) }, nil
	}
	data, err := marshal(v)
	if err != nil {
		return nil, err
	}
	return func(id uint64) []byte { return AppendEvent(nil, name, data, id) }, nil
}
