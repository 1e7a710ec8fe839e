package events

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// AppendPosition appends msg, an encoded ev (text, or binary: binary.go), with the room
// and history position of a durable broadcast added to it:
// {"t":"ev","n":"news","d":…,"room":"r","pos":{"e":"epoch","o":42}}. msg must end in '}'
// (its JSON header line for a binary message), as AppendEvent and AppendBinaryEvent make it.
func AppendPosition(b, msg []byte, room, epoch string, offset uint64) []byte {
	head, rest := msg, []byte(nil)
	if i := bytes.IndexByte(msg, '\n'); i >= 0 { // binary: the header line, then the bytes
		head, rest = msg[:i], msg[i:]
	}
	if len(head) == 0 || head[len(head)-1] != '}' {
		return append(b, msg...) // not an encoded message: left as it is
	}
	b = append(b, head[:len(head)-1]...)
	b = append(b, `,"room":`...)
	b = appendString(b, room)
	b = append(b, `,"pos":{"e":`...)
	b = appendString(b, epoch)
	b = append(b, `,"o":`...)
	b = strconv.AppendUint(b, offset, 10)
	b = append(b, "}}"...)
	return append(b, rest...)
}

// PositionOf returns the room and position that AppendPosition added to msg; ok is false
// for a message without them.
func PositionOf(msg []byte) (room string, pos Position, ok bool) {
	head := msg
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		head = msg[:i]
	}
	// Every broadcast passes here (deliver): a message that does not end as AppendPosition
	// ends one, `,"o":<digits>}}`, is told apart without reading the rest.
	const maxTail = len(`,"o":18446744073709551615}}`)
	if !bytes.HasSuffix(head, []byte("}}")) || !bytes.Contains(head[max(0, len(head)-maxTail):], []byte(`,"o":`)) {
		return "", Position{}, false
	}
	// Ours are the last fields: a bare `,"room":` cannot occur inside a JSON string, and one
	// inside the data comes before them.
	i := bytes.LastIndex(head, []byte(`,"room":`))
	if i < 0 {
		return "", Position{}, false
	}
	var tail struct {
		Room string    `json:"room"`
		Pos  *Position `json:"pos"`
	}
	b := append([]byte{'{'}, head[i+1:]...)
	if err := json.Unmarshal(b, &tail); err != nil || tail.Pos == nil {
		return "", Position{}, false
	}
	return tail.Room, *tail.Pos, true
}
