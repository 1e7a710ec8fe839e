package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockhop/sockhop/metrics"
)

// BenchmarkTraffic is what metrics add to every frame read and written: one Received and
// one Sent on a transport's counters, resolved once.
func BenchmarkTraffic(b *testing.B) {
	tr := metrics.New(prometheus.NewRegistry()).Traffic("websocket")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Received(3, 120)
			tr.Sent(3, 120)
		}
	})
}

// BenchmarkBroadcast is what metrics add to a broadcast: one histogram observation.
func BenchmarkBroadcast(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Broadcast(i % 1000)
	}
}
