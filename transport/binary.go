package transport

import "sync/atomic"

// Binary messages (PROTOCOL.md §2, "Binary messages"; events/binary.go). A message in the
// binary form goes as one binary frame where the Conn is a [BinaryFramer] and the peer
// declared binary support ([Peer]), and in a text form everywhere else.

// BinaryFramer is implemented by a Conn that carries binary frames (WebSocket).
type BinaryFramer interface {
	// ReadMessage is ReadFrame that also returns binary frames, reporting which it read.
	ReadMessage() (frame []byte, binary bool, err error)
	// WriteBinary writes msg as one binary frame, bounded by the write timeout.
	WriteBinary(msg []byte) error
}

// Peer records whether the peer of a Conn declared, in its hello or welcome, that it
// reads binary messages ("bin":1). Conns embed it; the zero value says no.
type Peer struct{ bin atomic.Bool }

// SetPeerBinary records what the peer declared.
func (p *Peer) SetPeerBinary(on bool) { p.bin.Store(on) }

// PeerBinary reports what the peer declared.
func (p *Peer) PeerBinary() bool { return p.bin.Load() }

// SetPeerBinary records on c, when c embeds a [Peer], whether its peer reads binary
// messages.
func SetPeerBinary(c Conn, on bool) {
	if p, ok := c.(interface{ SetPeerBinary(bool) }); ok {
		p.SetPeerBinary(on)
	}
}

// PeerBinary reports whether c's peer declared that it reads binary messages.
func PeerBinary(c Conn) bool {
	p, ok := c.(interface{ PeerBinary() bool })
	return ok && p.PeerBinary()
}
