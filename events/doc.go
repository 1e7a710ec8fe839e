// Package events is the sockhop wire envelope: message types, the codec, frame splitting
// and the close-code table of PROTOCOL.md. It does no I/O and imports nothing of sockhop.
//
// # Concurrency
//
// Everything here is a pure function or an immutable value and may be used concurrently.
package events
