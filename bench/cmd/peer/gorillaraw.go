package main

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/gorilla/websocket"
)

// newGorillaRaw is the physical-limit reference: the same gorilla hub as newGorilla (a
// reader and a writer goroutine per connection, as in gorilla's chat example, a buffered
// send channel, one text frame per message, the chat example's 1 KiB read and write
// buffers) with no JSON at all. Its protocol is a few
// text commands, one per frame:
//
//	e <id> <payload>          echo: the frame comes back as it is
//	j <id> <room>             join; reply "j <id>"
//	b <id> <room> <m> <size>  write m frames of size bytes ("xxx…") to each member of the
//	                          room; reply "b <id> <m>" to the sender
//
// A connection is usable once the upgrade is done (no hello).
func newGorillaRaw() http.Handler {
	// 1 KiB buffers, as gorilla's chat example sets them.
	return gorillaHub(websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}, (*hub).handleRaw)
}

// handleRaw runs one raw command frame from m; a malformed one is ignored.
func (h *hub) handleRaw(m member, frame []byte) {
	if len(frame) < 2 || frame[1] != ' ' {
		return
	}
	f := bytes.Fields(frame)
	switch frame[0] {
	case 'e':
		m.send(frame)
	case 'j':
		if len(f) != 3 {
			return
		}
		h.join(string(f[2]), m)
		m.send(append([]byte("j "), f[1]...))
	case 'b':
		if len(f) != 5 {
			return
		}
		n, err1 := strconv.Atoi(string(f[3]))
		size, err2 := strconv.Atoi(string(f[4]))
		if err1 != nil || err2 != nil {
			return
		}
		msg := []byte(payload(size))
		ms := h.members(string(f[2]))
		for range n {
			for _, to := range ms {
				to.send(msg)
			}
		}
		m.send(append(append([]byte("b "), f[1]...), " "+strconv.Itoa(n)...))
	}
}
