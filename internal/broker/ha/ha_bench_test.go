package ha

import (
	"strconv"
	"testing"
	"time"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// BenchmarkMasterPut measures pipelined puts (256 in flight, 1 KiB bodies) on
// a master with a following slave, as ASYNC_MASTER (no Replicator) and as
// SYNC_MASTER (each put waits for the slave's report), both ASYNC_FLUSH.
func BenchmarkMasterPut(b *testing.B) {
	for _, syncMaster := range []bool{false, true} {
		name := "async-master"
		if syncMaster {
			name = "sync-master"
		}
		b.Run(name, func(b *testing.B) {
			p := newPair(b, storeOpts{segSize: 64 << 20})
			p.startServer()
			p.startClient()
			if syncMaster {
				p.m.SetReplicator(p.srv)
			}
			q := store.NewCompletions()
			body := make([]byte, 1024)
			const window = 256
			inflight := 0
			var buf []store.Completion
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m := msg(i, 0, "")
				m.Body = body
				m.Properties[message.PropertyKeys] = "k" + strconv.Itoa(i)
				p.m.Put([]*message.MessageExt{m}, q, nil)
				i++
				inflight++
				for inflight >= window {
					<-q.Ready()
					buf = q.Drain(buf[:0])
					for _, c := range buf {
						if c.Err != nil || c.Result.Status != store.PutOK {
							b.Fatalf("put: %v %v", c.Err, c.Result.Status)
						}
					}
					inflight -= len(buf)
				}
			}
			for inflight > 0 {
				select {
				case <-q.Ready():
				case <-time.After(30 * time.Second):
					b.Fatal("puts not completed")
				}
				inflight -= len(q.Drain(buf[:0]))
			}
		})
	}
}
