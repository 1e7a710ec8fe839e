package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/centrifugal/centrifuge"
)

// newCentrifuge serves the protocol with Centrifuge (JSON protocol over WebSocket at
// /connection/websocket): join is a channel subscription, echo and bcast are RPCs, a
// broadcast is node.Publish on the room's channel.
func newCentrifuge() (http.Handler, error) {
	node, err := centrifuge.New(centrifuge.Config{ClientQueueMaxSize: 8 << 20})
	if err != nil {
		return nil, err
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: ""}}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		c.OnRPC(func(e centrifuge.RPCEvent, cb centrifuge.RPCCallback) {
			switch e.Method {
			case "echo":
				cb(centrifuge.RPCReply{Data: e.Data}, nil)
			case "bcast":
				var b bcastReq
				if err := json.Unmarshal(e.Data, &b); err != nil {
					cb(centrifuge.RPCReply{}, centrifuge.ErrorBadRequest)
					return
				}
				p := payload(b.S)
				for range b.M {
					data, _ := json.Marshal(p)
					if _, err := node.Publish(b.Room, data); err != nil {
						cb(centrifuge.RPCReply{}, err)
						return
					}
				}
				cb(centrifuge.RPCReply{Data: []byte(strconv.Itoa(b.M))}, nil)
			default:
				cb(centrifuge.RPCReply{}, centrifuge.ErrorMethodNotFound)
			}
		})
	})
	if err := node.Run(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin: func(*http.Request) bool { return true },
	}))
	return mux, nil
}
