package events

import (
	"bytes"
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
