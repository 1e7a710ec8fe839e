package sockhop_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// BenchmarkEmitClass measures a broadcast to one room of each delivery class, on one node
// with the memory history and one websocket member that reads everything: what a durable
// broadcast (history append, position) costs against a default one.
func BenchmarkEmitClass(b *testing.B) {
	for _, class := range []sockhop.Class{sockhop.Default, sockhop.Volatile, sockhop.Durable} {
		b.Run(class.String(), func(b *testing.B) {
			srv, err := sockhop.New(sockhop.Options{MaxQueueBytes: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			srv.OnConnect(func(ctx context.Context, s *sockhop.Session) error { return s.Join(ctx, "r") })
			url := serveAt(b, srv, httptest.NewUnstartedServer(nil))
			c, err := client.Dial(context.Background(), url, client.Options{Transports: []string{client.WebSocket}, NoReconnect: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if srv.LocalCount("r") == 0 { // the join runs before the welcome
				b.Fatal("not in the room")
			}
			ctx := context.Background()
			payload := map[string]any{"user": "ann", "text": "hello, world", "n": 42}
			br := srv.To("r").Class(class)
			b.ReportAllocs()
			for b.Loop() {
				if err := br.Emit(ctx, "msg", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
