package session

import (
	"context"
	"testing"

	"github.com/sockhop/sockhop/events"
)

// BenchmarkRetain: one reply written and retained per op, the peer acknowledging every
// 32 of them a window behind (as a client's reports do), and, in "unacknowledged", never
// (the byte bound drops the oldest).
func BenchmarkRetain(b *testing.B) {
	for _, tc := range []struct {
		name  string
		every uint64
	}{{"acknowledged", 32}, {"unacknowledged", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			s := New(context.Background(), "bench", Config{}, HandlerFunc(func(context.Context, *events.Message) {}))
			defer s.Abort(&events.CloseError{Code: events.CloseNormal})
			msg := []byte(`{"t":"ack","id":1,"d":"0123456789abcdef0123456789abcdef"}`)
			batch := make([]item, 1)
			b.ReportAllocs()
			for i := range uint64(b.N) {
				batch[0] = item{b: msg, counted: true, seq: i + 1}
				s.retain(batch)
				if tc.every != 0 && (i+1)%tc.every == 0 && i+1 > 3*tc.every {
					s.trim(i + 1 - 3*tc.every)
				}
			}
		})
	}
}
