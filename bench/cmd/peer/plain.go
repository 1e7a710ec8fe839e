package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
)

// The gorilla and sockjs-go peers speak the subset of sockhop's wire format (PROTOCOL.md)
// the load generator uses: hello/welcome, ev with an ack id, ack, ping/pong, one JSON
// message per line. Their cost is then the library's, not a different protocol's.

// member is one connection of a plain peer.
type member interface {
	// send queues one message; it may block (back-pressure), never drops.
	send(msg []byte)
}

// hub is the room registry of the plain peers: a map under a lock, as in gorilla's chat
// example.
type hub struct {
	mu    sync.RWMutex
	rooms map[string]map[member]struct{}
}

func newHub() *hub { return &hub{rooms: make(map[string]map[member]struct{})} }

func (h *hub) join(room string, m member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		r = make(map[member]struct{})
		h.rooms[room] = r
	}
	r[m] = struct{}{}
}

func (h *hub) leaveAll(m member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, r := range h.rooms {
		delete(r, m)
		if len(r) == 0 {
			delete(h.rooms, name)
		}
	}
}

func (h *hub) members(room string) []member {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ms := make([]member, 0, len(h.rooms[room]))
	for m := range h.rooms[room] {
		ms = append(ms, m)
	}
	return ms
}

type inMsg struct {
	T  string          `json:"t"`
	N  string          `json:"n"`
	D  json.RawMessage `json:"d"`
	ID int64           `json:"id"`
}

var (
	welcomeMsg = []byte(`{"t":"welcome","sid":"plain","token":"","ping":25000,"pong":20000,"max":65536,"resumed":false}`)
	pongMsg    = []byte(`{"t":"pong"}`)
)

func ackMsg(id int64, d []byte) []byte {
	b := append([]byte(`{"t":"ack","id":`), strconv.FormatInt(id, 10)...)
	b = append(b, `,"d":`...)
	b = append(b, d...)
	return append(b, '}')
}

// handleFrame runs every message of one frame from m.
func (h *hub) handleFrame(m member, frame []byte) {
	for line := range bytes.SplitSeq(frame, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var in inMsg
		if err := json.Unmarshal(line, &in); err != nil {
			continue
		}
		switch in.T {
		case "hello":
			m.send(welcomeMsg)
		case "ping":
			m.send(pongMsg)
		case "ev":
			h.handleEvent(m, &in)
		}
	}
}

func (h *hub) handleEvent(m member, in *inMsg) {
	switch in.N {
	case "join":
		var room string
		if json.Unmarshal(in.D, &room) == nil {
			h.join(room, m)
		}
		m.send(ackMsg(in.ID, []byte("true")))
	case "echo":
		m.send(ackMsg(in.ID, in.D))
	case "bcast":
		var b bcastReq
		if err := json.Unmarshal(in.D, &b); err != nil {
			m.send(ackMsg(in.ID, []byte("null")))
			return
		}
		p := payload(b.S)
		ms := h.members(b.Room)
		for range b.M {
			data, _ := json.Marshal(p)
			msg := append([]byte(`{"t":"ev","n":"b","d":`), data...)
			msg = append(msg, '}')
			for _, to := range ms {
				to.send(msg)
			}
		}
		m.send(ackMsg(in.ID, []byte(strconv.Itoa(b.M))))
	}
}
