// Package wire is the binary form in which the multi-node adapters (rooms/redis, rooms/nats)
// carry a [rooms.Publication] between nodes. Both brokers carry opaque bytes, so both use
// this one format:
//
//	version  1 byte, 1
//	node     8 bytes, the publisher's random node ID
//	rooms    uvarint count, then per room: uvarint length, bytes
//	except   uvarint count, then per session ID: uvarint length, bytes
//	data     every remaining byte, p.Data verbatim
//
// Room names and IDs are opaque bytes; the data needs no length because it runs to the end.
package wire

import (
	"crypto/rand"
	"encoding/binary"
	"errors"

	"github.com/sockhop/sockhop/rooms"
)

// Version is the first byte of every message. A node ignores (and counts as malformed)
// messages with another first byte, so a later format can be rolled out by having new
// nodes publish both for a while.
const Version = 1

// NodeIDLen is the length of the random node ID that follows the version byte.
const NodeIDLen = 8

// ErrMalformed is returned by [Decode] for bytes that are not a message of this format.
var ErrMalformed = errors.New("rooms: malformed message")

// ErrOwn is returned by [DecodeFrom] for a message the receiving node published itself.
var ErrOwn = errors.New("rooms: own message")

// NewNodeID returns a random node ID of NodeIDLen bytes.
func NewNodeID() string {
	var id [NodeIDLen]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return string(id[:])
}

// Encode appends the wire form of p, published by node id (NodeIDLen bytes), to dst.
func Encode(dst []byte, id string, p rooms.Publication) []byte {
	dst = append(dst, Version)
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

// EncodedLen returns the exact length of Encode's output for p.
func EncodedLen(p rooms.Publication) int {
	n := 1 + NodeIDLen + uvarintLen(len(p.Rooms)) + uvarintLen(len(p.Except)) + len(p.Data)
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

// Header returns the publisher's node ID of a message, or ok=false when the message is not
// one of this format.
func Header[T ~string | ~[]byte](msg T) (node string, ok bool) {
	if len(msg) < 1+NodeIDLen || msg[0] != Version {
		return "", false
	}
	return string(msg[1 : 1+NodeIDLen]), true
}

// DecodeFrom parses a message that node self received: it returns [ErrOwn], without
// decoding further, for one that self published, and [ErrMalformed] for one that is not
// of this format.
func DecodeFrom[T ~string | ~[]byte](msg T, self string) (rooms.Publication, error) {
	node, ok := Header(msg)
	if !ok {
		return rooms.Publication{}, ErrMalformed
	}
	if node == self {
		return rooms.Publication{}, ErrOwn
	}
	return Decode(msg)
}

// Decode parses a message. Room names and except IDs share memory with msg when msg is a
// string and are copies when it is a []byte; Data is a fresh copy of a string's bytes, and
// shares memory with a []byte msg (the caller hands over a buffer it no longer uses).
func Decode[T ~string | ~[]byte](msg T) (rooms.Publication, error) {
	var p rooms.Publication
	if len(msg) < 1+NodeIDLen || msg[0] != Version {
		return p, ErrMalformed
	}
	rest := msg[1+NodeIDLen:]
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

func decodeStrings[T ~string | ~[]byte](s T) ([]string, T, error) {
	n, rest, err := readUvarint(s)
	if err != nil {
		return nil, s[:0], err
	}
	if n == 0 {
		return nil, rest, nil
	}
	if n > uint64(len(rest)) { // each string takes at least its length byte
		return nil, s[:0], ErrMalformed
	}
	out := make([]string, n)
	for i := range out {
		var l uint64
		if l, rest, err = readUvarint(rest); err != nil {
			return nil, s[:0], err
		}
		if l > uint64(len(rest)) {
			return nil, s[:0], ErrMalformed
		}
		out[i], rest = string(rest[:l]), rest[l:]
	}
	return out, rest, nil
}

func readUvarint[T ~string | ~[]byte](s T) (uint64, T, error) {
	var v uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, s[i+1:], nil
		}
	}
	return 0, s[:0], ErrMalformed
}
