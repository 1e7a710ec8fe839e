package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Message types, the value of the "t" field.
const (
	TypeHello   = "hello"
	TypeWelcome = "welcome"
	TypeEvent   = "ev"
	TypeAck     = "ack"
	TypePing    = "ping"
	TypePong    = "pong"
	TypeClose   = "close"
)

// Version is the protocol version this package speaks.
const Version = 1

// Limits of the envelope, from PROTOCOL.md.
const (
	MaxNameLen = 256
	MaxID      = 1<<53 - 1
	MaxDepth   = 32 // nesting of objects and arrays, the envelope's own included
)

// depth returns the deepest nesting of objects and arrays in a JSON text, skipping
// strings; it does not validate. It guards the decoder against stack-heavy input.
func depth(b []byte) int {
	d, max := 0, 0
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case in:
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
		case c == '"':
			in = true
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

// Message is one decoded protocol message. Only the fields of its type are set.
type Message struct {
	T string `json:"t"`

	// hello
	V      int             `json:"v,omitempty"`
	Auth   json.RawMessage `json:"auth,omitempty"`
	Resume *Resume         `json:"resume,omitempty"`
	// Bin is 1 in a hello (welcome) whose client (server) reads binary messages
	// (binary.go): binary WebSocket frames, and "b" in text messages.
	Bin int `json:"bin,omitempty"`

	// welcome
	SID     string `json:"sid,omitempty"`
	Token   string `json:"token,omitempty"`
	Ping    int64  `json:"ping,omitempty"`
	Pong    int64  `json:"pong,omitempty"`
	Max     int    `json:"max,omitempty"`
	Resumed bool   `json:"resumed,omitempty"`
	Node    string `json:"node,omitempty"`

	// ev and ack
	Name string          `json:"n,omitempty"`
	Data json.RawMessage `json:"d,omitempty"`
	ID   uint64          `json:"id,omitempty"`
	Err  *ErrorBody      `json:"e,omitempty"`
	// B is the payload of a binary message (binary.go), instead of Data; nil for none.
	B []byte `json:"b,omitempty"`
	// Room and Pos: an ev of a durable broadcast names its room and its position in the
	// room's history (PROTOCOL.md §9, AppendPosition).
	Room string    `json:"room,omitempty"`
	Pos  *Position `json:"pos,omitempty"`

	// ping and pong
	R uint64 `json:"r,omitempty"`

	// close
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	Retry  int64  `json:"retry,omitempty"`
}

// Resume is what a hello carries to resume an earlier session.
type Resume struct {
	SID   string `json:"sid"`
	Token string `json:"token"`
	Seq   uint64 `json:"seq"`
}

// Position is a place in a room's history (rooms.Position): epoch and offset.
type Position struct {
	Epoch  string `json:"e"`
	Offset uint64 `json:"o"`
}

// ErrorBody is a client-visible error in an ack or a close message.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Counted reports whether m is one of the messages that sequence numbers count.
func (m *Message) Counted() bool { return m.T == TypeEvent || m.T == TypeAck }

// ErrMalformed is wrapped by every decoding error of an envelope.
var ErrMalformed = errors.New("events: malformed message")

// Decode parses one message (one line of a frame) and checks the envelope: a known type
// and the fields that type requires. Data stays raw: handlers decode it.
func Decode(line []byte) (Message, error) {
	var m Message
	if len(line) == 0 || line[0] != '{' {
		return m, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if depth(line) > MaxDepth {
		return m, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	if !decodeFast(line, &m) {
		// A Message of its own for encoding/json, which makes what it decodes into escape:
		// m stays on the stack on the fast path (a Message is about 300 bytes).
		p := new(Message)
		if err := json.Unmarshal(line, p); err != nil {
			return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		m = *p
	}
	switch m.T {
	case TypeEvent:
		if m.Name == "" || len(m.Name) > MaxNameLen {
			return m, fmt.Errorf("%w: event name must be 1 to %d bytes", ErrMalformed, MaxNameLen)
		}
		if m.ID > MaxID {
			return m, fmt.Errorf("%w: ack id over 2^53-1", ErrMalformed)
		}
		if m.B != nil && m.Data != nil {
			return m, fmt.Errorf("%w: both d and b", ErrMalformed)
		}
	case TypeAck:
		if m.ID == 0 || m.ID > MaxID {
			return m, fmt.Errorf("%w: ack id must be 1 to 2^53-1", ErrMalformed)
		}
		if m.B != nil && m.Data != nil {
			return m, fmt.Errorf("%w: both d and b", ErrMalformed)
		}
	case TypeHello, TypeWelcome, TypePing, TypePong, TypeClose:
	case "":
		return m, fmt.Errorf("%w: no type", ErrMalformed)
	default:
		return m, fmt.Errorf("%w: unknown type %q", ErrMalformed, truncate(m.T, 32))
	}
	return m, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Lines calls fn for each message of a frame, in order, skipping empty lines. It stops at
// the first error fn returns and returns it.
func Lines(frame []byte, fn func(line []byte) error) error {
	for len(frame) > 0 {
		i := bytes.IndexByte(frame, '\n')
		var line []byte
		if i < 0 {
			line, frame = frame, nil
		} else {
			line, frame = frame[:i], frame[i+1:]
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// ValidUTF8 reports whether a frame is valid UTF-8 text.
func ValidUTF8(frame []byte) bool { return utf8.Valid(frame) }

// AppendEvent appends an encoded ev message. data must be valid JSON or empty (null);
// id 0 means no ack is requested.
func AppendEvent(b []byte, name string, data []byte, id uint64) []byte {
	// `{"t":"ev","n":` "name" `,"d":` data `,"id":` id `}`: grown once, not at every append.
	b = slices.Grow(b, 14+len(name)+2+5+len(data)+6+20+1)
	b = append(b, `{"t":"ev","n":`...)
	b = appendString(b, name)
	if len(data) > 0 {
		b = append(b, `,"d":`...)
		b = append(b, data...)
	}
	if id != 0 {
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, id, 10)
	}
	return append(b, '}')
}

// AppendAck appends an encoded ack message: a reply with data, or with e when e is not nil.
func AppendAck(b []byte, id uint64, data []byte, e *ErrorBody) []byte {
	// `{"t":"ack","id":` id `,"d":` data `}` (an error: a guess, appendString may grow it).
	n := 16 + 20 + 5 + len(data) + 1
	if e != nil {
		n += 24 + len(e.Code) + len(e.Message)
	}
	b = slices.Grow(b, n)
	b = append(b, `{"t":"ack","id":`...)
	b = strconv.AppendUint(b, id, 10)
	if e != nil {
		b = append(b, `,"e":{"code":`...)
		b = appendString(b, e.Code)
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		b = append(b, '}')
	} else if len(data) > 0 {
		b = append(b, `,"d":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// AppendPing appends a ping (pong when pong is true) carrying r, the count of counted
// messages received so far (omitted when 0).
func AppendPing(b []byte, pong bool, r uint64) []byte {
	if pong {
		b = append(b, `{"t":"pong"`...)
	} else {
		b = append(b, `{"t":"ping"`...)
	}
	if r != 0 {
		b = append(b, `,"r":`...)
		b = strconv.AppendUint(b, r, 10)
	}
	return append(b, '}')
}

// AppendPingInterval adds the field ping (a heartbeat interval in ms) to the ping or pong
// b ends with: a client asks for the interval so, the server answers with the one it took.
func AppendPingInterval(b []byte, ms int64) []byte {
	if len(b) == 0 || b[len(b)-1] != '}' {
		return b
	}
	b = append(b[:len(b)-1], `,"ping":`...)
	b = strconv.AppendInt(b, ms, 10)
	return append(b, '}')
}

// Encode marshals any message; it is for the rare messages (hello, welcome, close) where
// speed does not matter.
func Encode(m *Message) []byte {
	b, err := json.Marshal(m)
	if err != nil { // only possible with invalid RawMessage fields, which callers build
		panic("events: encode: " + err.Error())
	}
	return b
}

// appendString appends s as a JSON string. Plain ASCII without characters that need
// escaping is copied as is; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Welcome is the server's answer to hello.
type Welcome struct {
	SID     string
	Token   string
	Ping    int64 // ms
	Pong    int64 // ms
	Max     int
	Resumed bool
	R       uint64 // counted messages the server has received in the session (resumes)
	Node    string // the node the session lives on (PROTOCOL.md §7); "" is left out
	Bin     bool   // the server reads binary messages (binary.go)
}

// AppendWelcome appends an encoded welcome message; unlike Encode it always writes resumed.
func AppendWelcome(b []byte, w Welcome) []byte {
	// Its fixed parts and numbers take at most 190 bytes: grown once, not at every append.
	b = slices.Grow(b, 190+len(w.SID)+len(w.Token)+len(w.Node))
	b = append(b, `{"t":"welcome","sid":`...)
	b = appendString(b, w.SID)
	b = append(b, `,"token":`...)
	b = appendString(b, w.Token)
	b = append(b, `,"ping":`...)
	b = strconv.AppendInt(b, w.Ping, 10)
	b = append(b, `,"pong":`...)
	b = strconv.AppendInt(b, w.Pong, 10)
	b = append(b, `,"max":`...)
	b = strconv.AppendInt(b, int64(w.Max), 10)
	b = append(b, `,"resumed":`...)
	b = strconv.AppendBool(b, w.Resumed)
	if w.Resumed {
		b = append(b, `,"r":`...)
		b = strconv.AppendUint(b, w.R, 10)
	}
	if w.Node != "" {
		b = append(b, `,"node":`...)
		b = appendString(b, w.Node)
	}
	if w.Bin {
		b = append(b, `,"bin":1`...)
	}
	return append(b, '}')
}
