package main

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/igm/sockjs-go/v3/sockjs"
)

// newSockJS serves the plain protocol with igm/sockjs-go v3 on chi at /sockjs: its
// websocket, xhr-streaming and xhr-polling transports, defaults otherwise.
func newSockJS() http.Handler {
	h := newHub()
	opts := sockjs.DefaultOptions
	opts.Websocket = true
	sj := sockjs.NewHandler("/sockjs", opts, func(s sockjs.Session) {
		c := sockjsConn{s}
		defer h.leaveAll(c)
		for {
			msg, err := s.Recv()
			if err != nil {
				return
			}
			h.handleFrame(c, []byte(msg))
		}
	})
	r := chi.NewRouter()
	r.Handle("/sockjs/*", sj)
	return r
}

type sockjsConn struct{ s sockjs.Session }

func (c sockjsConn) send(msg []byte) { _ = c.s.Send(string(msg)) }
