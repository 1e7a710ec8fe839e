package redis

import (
	"encoding/binary"
	"errors"

	"github.com/sockhop/sockhop/rooms"
)

// wireVersion is the first byte of every message this package publishes. A node ignores
// (and counts as malformed) messages with another first byte, so a later format can be
// rolled out by having new nodes publish both for a while.
const wireVersion = 1

// nodeIDLen is the length of the random node ID that follows the version byte.
const nodeIDLen = 8

var errMalformed = errors.New("rooms/redis: malformed message")

// encode appends the wire form of p, published by node id, to dst:
//
//	version  1 byte, 1
//	node     8 bytes, the publisher's random node ID
//	rooms    uvarint count, then per room: uvarint length, bytes
//	except   uvarint count, then per session ID: uvarint length, bytes
//	data     every remaining byte, p.Data verbatim
//
// Room names and IDs are opaque bytes; the data needs no length because it runs to the end.
func encode(dst []byte, id string, p rooms.Publication) []byte {
	dst = append(dst, wireVersion)
	dst = append(dst, id...)
	dst = binary.AppendUvarint(dst, uint64(len(p.Rooms)))
	for _, r := range p.Rooms {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		dst = append(dst, r...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Except)))
	for _, e := range p.Except {
		dst = binary.AppendUvarint(dst, uint64(len(e)))
		dst = append(dst, e...)
	}
	return append(dst, p.Data...)
}

// encodedLen returns the exact length of encode's output for p.
func encodedLen(p rooms.Publication) int {
	n := 1 + nodeIDLen + uvarintLen(len(p.Rooms)) + uvarintLen(len(p.Except)) + len(p.Data)
	for _, r := range p.Rooms {
		n += uvarintLen(len(r)) + len(r)
	}
	for _, e := range p.Except {
		n += uvarintLen(len(e)) + len(e)
	}
	return n
}

func uvarintLen(v int) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// decodeHeader returns the publisher's node ID of a message, or ok=false when the message
// is not one of ours.
func decodeHeader(msg string) (node string, ok bool) {
	if len(msg) < 1+nodeIDLen || msg[0] != wireVersion {
		return "", false
	}
	return msg[1 : 1+nodeIDLen], true
}

// decode parses a message. Room names and except IDs share memory with msg; Data is a
// fresh copy.
func decode(msg string) (rooms.Publication, error) {
	var p rooms.Publication
	if _, ok := decodeHeader(msg); !ok {
		return p, errMalformed
	}
	rest := msg[1+nodeIDLen:]
	var err error
	if p.Rooms, rest, err = decodeStrings(rest); err != nil {
		return p, err
	}
	if p.Except, rest, err = decodeStrings(rest); err != nil {
		return p, err
	}
	p.Data = []byte(rest)
	return p, nil
}

func decodeStrings(s string) ([]string, string, error) {
	n, rest, err := readUvarint(s)
	if err != nil {
		return nil, "", err
	}
	if n == 0 {
		return nil, rest, nil
	}
	if n > uint64(len(rest)) { // each string takes at least its length byte
		return nil, "", errMalformed
	}
	out := make([]string, n)
	for i := range out {
		var l uint64
		if l, rest, err = readUvarint(rest); err != nil {
			return nil, "", err
		}
		if l > uint64(len(rest)) {
			return nil, "", errMalformed
		}
		out[i], rest = rest[:l], rest[l:]
	}
	return out, rest, nil
}

func readUvarint(s string) (uint64, string, error) {
	var v uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, s[i+1:], nil
		}
	}
	return 0, "", errMalformed
}
