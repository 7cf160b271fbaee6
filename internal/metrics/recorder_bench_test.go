package metrics

import (
	"testing"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// The per-event cost the send, pull and remoting paths pay when metrics are
// on: a read-locked map lookup and atomic adds, no allocation.
func BenchmarkRecorderMessagesIn(b *testing.B) {
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 0)
	topics := []string{"orders", "payments", "audit", "clicks"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rec.MessagesIn(topics[i%len(topics)], TypeNormal, 1, 1024)
			i++
		}
	})
}

func BenchmarkRecorderPulled(b *testing.B) {
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.Pulled("orders", "g", int32(i%8), int64(i), 32, 32*1024)
	}
}

func BenchmarkRecorderRPC(b *testing.B) {
	rec := NewRecorder(Identity{Cluster: "c", Node: "b"}, 0)
	b.ReportAllocs()
	for b.Loop() {
		rec.RPC(protocol.SendMessageV2, protocol.Success, 700*time.Microsecond, false, false)
	}
}
