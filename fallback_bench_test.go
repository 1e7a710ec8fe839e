package sockhop_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// BenchmarkSmallEcho is one small request and its reply per op, with the Go client on each
// transport: what the fallbacks cost per round trip beside the WebSocket, in allocations
// (client and server together: the client's part does not change with the server).
func BenchmarkSmallEcho(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr, func(b *testing.B) {
			srv, err := sockhop.New(sockhop.Options{MessageRate: -1}) // the rate limit would refuse a benchmark's pace
			if err != nil {
				b.Fatal(err)
			}
			sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
				return v, nil
			})
			url := serveAt(b, srv, httptest.NewUnstartedServer(nil))
			ctx := context.Background()
			c, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, NoReconnect: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			v := json.RawMessage(`{"s":"hello, world","n":12345}`)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.EmitWithAck(ctx, "echo", v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
