package cluster

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkRemoteSessions measures what the view costs per session of another node (its
// memory, and the time to apply its open and join), and the size of those ops on the
// broker: 10,000 sessions, each in 2 of 100 rooms, arriving in batches as a node sends them.
func BenchmarkRemoteSessions(b *testing.B) {
	const sessions, batch = 10_000, 100
	var msgs [][]byte
	seq := uint64(0)
	bytes := 0
	for i := 0; i < sessions; i += batch {
		m := msg{T: tOps, N: "nremote1", Q: seq + 1}
		for j := i; j < i+batch; j++ {
			sid := fmt.Sprintf("%022d", j) // a sockhop session id is 22 characters
			m.O = append(m.O, Op{Kind: OpOpen, SID: sid, User: fmt.Sprintf("user%d", j)},
				Op{Kind: OpJoin, SID: sid, Room: fmt.Sprintf("room%d", j%100)},
				Op{Kind: OpJoin, SID: sid, Room: fmt.Sprintf("room%d", (j+1)%100)})
		}
		seq += uint64(len(m.O))
		data, _ := json.Marshal(m)
		bytes += len(data)
		msgs = append(msgs, data)
	}
	var before, after runtime.MemStats
	var applying time.Duration
	b.ReportAllocs()
	for b.Loop() {
		n := New(Config{ID: "nlocal1", Log: quiet})
		n.mu.Lock()
		p := n.v.peer("nremote1")
		p.synced = true
		n.mu.Unlock()
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		for _, d := range msgs {
			n.Receive(d)
		}
		applying += time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if c := n.Count("room1"); c != 2*sessions/100 {
			b.Fatalf("Count = %d", c)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/sessions, "heapB/session")
		runtime.KeepAlive(n)
	}
	b.ReportMetric(float64(bytes)/sessions, "wireB/session")
	b.ReportMetric(float64(applying.Nanoseconds())/float64(b.N*sessions), "ns/session")
}
