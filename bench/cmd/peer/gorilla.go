package main

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// newGorilla is the "no framework" reference: gorilla/websocket with a reader goroutine
// and a writer goroutine per connection (gorilla's chat example), a buffered send channel,
// and one WebSocket frame per message. A full channel blocks the broadcaster instead of
// dropping the member, so every message arrives.
func newGorilla() http.Handler {
	return gorillaHub(websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}, (*hub).handleFrame)
}

// gorillaHub serves up's connections as gorilla's chat example does, each frame read
// handed to handle.
func gorillaHub(up websocket.Upgrader, handle func(h *hub, m member, frame []byte)) http.Handler {
	h := newHub()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &gorillaConn{conn: conn, out: make(chan []byte, 256), done: make(chan struct{})}
		go c.writePump()
		defer func() {
			h.leaveAll(c)
			close(c.done)
			conn.Close()
		}()
		for {
			_, frame, err := conn.ReadMessage()
			if err != nil {
				return
			}
			handle(h, c, frame)
		}
	})
}

type gorillaConn struct {
	conn *websocket.Conn
	out  chan []byte   // to writePump
	done chan struct{} // closed when the reader ends
}

func (c *gorillaConn) send(msg []byte) {
	select {
	case c.out <- msg:
	case <-c.done:
	}
}

func (c *gorillaConn) writePump() {
	for {
		select {
		case msg := <-c.out:
			c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.conn.Close()
				<-c.done
				return
			}
		case <-c.done:
			return
		}
	}
}
